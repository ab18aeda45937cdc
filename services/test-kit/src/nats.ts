import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsUrl } from './env';

export async function connectTestNats(): Promise<NatsConnection> {
  return connect({ servers: natsUrl(), name: 'drc-test' });
}

/** Deletes every JetStream stream whose name starts with `namePrefix` (tests' own streams only). */
export async function deleteStreams(namePrefix: string): Promise<void> {
  const nc = await connectTestNats();
  try {
    const jsm = await jetstreamManager(nc);
    for await (const si of jsm.streams.list()) {
      if (si.config.name.startsWith(namePrefix)) await jsm.streams.delete(si.config.name);
    }
  } finally {
    await nc.close();
  }
}
