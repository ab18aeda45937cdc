import { formatFieldIssues } from '@drc/contracts';
import { validateConfigFile } from '@drc/runtime';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes';
import { colour } from '../output';

/** `drc config validate FILE`: checks a configuration file and names every bad field. */
export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('work with drc configuration files');
  config
    .command('validate')
    .description('check a configuration file; every problem is printed with the path of its field')
    .argument('<file>', 'YAML or JSON configuration file')
    .option('--json', 'print the result as JSON')
    .action((file: string, opts: { json?: boolean }) => {
      const r = validateConfigFile(file);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(r.ok ? { valid: true, sites: r.config.sites.length, workloads: r.config.workloads.length } : { valid: false, issues: r.issues }, null, 2)}\n`);
      } else if (r.ok) {
        process.stdout.write(`${colour('green', '✓')} ${file}: valid (${r.config.sites.length} sites, ${r.config.workloads.length} workloads)\n`);
      } else {
        process.stderr.write(`${colour('red', '✗')} ${file}: ${r.issues.length} problem${r.issues.length === 1 ? '' : 's'}\n${formatFieldIssues(r.issues).replace(/^/gm, '  ')}\n`);
      }
      process.exitCode = r.ok ? EXIT.ok : EXIT.failed;
    });
}
