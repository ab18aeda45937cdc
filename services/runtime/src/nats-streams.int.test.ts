import { createSubjects } from '@drc/contracts';
import { deleteStreams, natsUrl, uniquePrefix } from '@drc/test-kit';
import { afterAll, describe, expect, it } from 'vitest';
import { connectNats, ensureStreams, jetstreamManager } from './nats';

describe('ensureStreams - idempotent, changes only what differs', () => {
  const prefix = uniquePrefix('streams');
  const subjects = createSubjects(prefix);
  afterAll(async () => {
    await deleteStreams(subjects.streams.agents.replace(/_AGENTS$/, '_'));
  });

  it('creates the streams once, leaves matching ones untouched, and corrects a changed retention', async () => {
    const nc = await connectNats({ url: natsUrl(), name: 'streams-test' });
    try {
      await ensureStreams(nc, subjects, { maxAgeMs: 60_000 });
      const jsm = await jetstreamManager(nc);
      const names = [subjects.streams.agents, subjects.streams.commands, subjects.streams.deadLetters];
      const first = await Promise.all(names.map((n) => jsm.streams.info(n)));
      for (const i of first) expect(i.config.max_age).toBe(60_000 * 1_000_000);
      await ensureStreams(nc, subjects, { maxAgeMs: 60_000 });
      const again = await Promise.all(names.map((n) => jsm.streams.info(n)));
      expect(again.map((i) => i.created)).toEqual(first.map((i) => i.created));
      expect(again.map((i) => i.config)).toEqual(first.map((i) => i.config));
      await ensureStreams(nc, subjects, { maxAgeMs: 120_000 });
      for (const n of names) expect((await jsm.streams.info(n)).config.max_age).toBe(120_000 * 1_000_000);
    } finally {
      await nc.close();
    }
  });
});
