/**
 * Test fixture (process-guard.int.test.ts): a process run the way drc's services run
 * (runProcess) whose event store's new connections fail while they open, or, with `--other`,
 * one with an unrelated rejection nobody handles (`--throw`: an exception nobody catches; `--idle`: nothing left
 * running while main still waits).
 */
import { createPostgresEventStore } from '@drc/event-store';
import { runProcess } from '@drc/runtime';

runProcess('fixture', async () => {
  if (process.argv.includes('--idle')) {
    // Everything that kept the process alive has stopped; main still waits (for a signal, say).
    const t = setTimeout(() => undefined, 200);
    await new Promise<never>(() => void t);
  }
  if (process.argv.includes('--throw')) {
    setTimeout(() => {
      throw new Error('a bug thrown from a timer');
    }, 50);
    await new Promise((r) => setTimeout(r, 500));
    return 0;
  }
  if (process.argv.includes('--other')) {
    void Promise.reject(new Error('a bug: nobody awaited this'));
    await new Promise((r) => setTimeout(r, 500));
    return 0;
  }
  const store = createPostgresEventStore({ url: process.argv[2]! });
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) outcomes.push(await store.streamVersion('s').then(() => 'ok', (e: unknown) => (e as { code?: string }).code ?? 'error'));
  await new Promise((r) => setTimeout(r, 300));
  await store.close();
  process.stdout.write(`answered ${outcomes.length}: ${outcomes.join(' ')}\n`);
  return 0;
});
