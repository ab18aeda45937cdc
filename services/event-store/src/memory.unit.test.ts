import { describe, expect, it } from 'vitest';
import { createMemoryEventData, createMemoryEventStore } from './memory';
import { isEventStoreUnavailableError } from './errors';
import { newEvent, runEventStoreContract } from './testing/index';

runEventStoreContract('memory', async () => {
  const data = createMemoryEventData();
  const store = createMemoryEventStore({ data });
  await store.init();
  return { store, secondWriter: async () => createMemoryEventStore({ data }), cleanup: () => store.close() };
});

describe('memory event store - simulator hooks', () => {
  it('records the injected clock and turns a failing beforeCall into EventStoreUnavailableError, appending nothing', async () => {
    let down = false;
    const store = createMemoryEventStore({
      now: () => 1_000,
      beforeCall: () => {
        if (down) throw new Error('outage');
      },
    });
    await store.append('s', [newEvent('A')], { expectedVersion: 0 });
    expect((await store.readStream('s'))[0]!.recordedAt.getTime()).toBe(1_000);
    down = true;
    const err = await store.append('s', [newEvent('B')], { expectedVersion: 1 }).catch((e: unknown) => e);
    expect(isEventStoreUnavailableError(err)).toBe(true);
    expect((err as { retryable?: boolean }).retryable).toBe(true);
    down = false;
    expect(await store.streamVersion('s')).toBe(1);
  });
});
