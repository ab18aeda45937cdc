/**
 * Test fixture (process-guard.int.test.ts): a process run the way drc's services run
 * (runProcess) whose event store's new connections fail while they open, or, with `--other`,
 * one with an unrelated rejection nobody handles.
 */
import { createPostgresEventStore } from '@drc/event-store';
import { runProcess } from '@drc/runtime';

runProcess('fixture', async () => {
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
