/**
 * `npm run bench -- NAME` runs bench/NAME.ts (its default export), which prints a table and
 * writes bench/results/NAME.json. `npm run bench -- all` runs every benchmark listed in ALL.
 * Benchmarks are never part of `npm test`.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

// Benchmark names come first; everything from the first option on belongs to the benchmarks.
const args = process.argv.slice(2);
const firstOption = args.findIndex((a) => a.startsWith('-'));
const names = (firstOption < 0 ? args : args.slice(0, firstOption)).filter((a) => a !== '--help');
if (args.includes('--help') && names.length === 0) names.push('--help');
if (names.length === 0 || names.includes('--help')) {
  console.log(`usage: npm run bench -- NAME|all\navailable: ${available.join(', ') || '(none yet)'}`);
  process.exit(names.length === 0 ? 2 : 0);
}
/**
 * `all`: everything that fits in about 10 minutes on this 2-core machine. failover-pg runs
 * without pg_auto_failover's defaults there (about a minute per run); run it alone for those.
 */
const ALL: Record<string, string[]> = { eventstore: [], scale: [], replay: [], history: [], 'failover-pg': ['--runs', '5', '--skip-default'], sim: [] };
const todo = names.includes('all') ? Object.keys(ALL).filter((n) => available.includes(n)) : names;
const startedAt = Date.now();
for (const name of todo) {
  if (!available.includes(name)) {
    console.error(`unknown benchmark "${name}"; available: ${available.join(', ')}`);
    process.exit(2);
  }
  console.log(`\n== bench ${name}`);
  // Under `all`, each benchmark sees its own options, as if run alone.
  if (names.includes('all')) process.argv = [process.argv[0]!, process.argv[1]!, name, ...ALL[name]!];
  const mod = (await import(`./${name}.ts`)) as { default: () => Promise<void> };
  await mod.default();
}
if (todo.length > 1) console.log(`\n${todo.length} benchmarks in ${Math.round((Date.now() - startedAt) / 1000)} s`);
