/**
 * Creates drc's JetStream streams, replicated, before any coordinator or agent starts:
 *   node --import tsx deploy/nats/create-streams.ts [--replicas 3] [--prefix drc] [--nats URL]
 * Credentials as for the coordinator: NATS_USER + NATS_PASSWORD (the `coordinator` user of
 * accounts.conf), NATS_CREDS, NATS_TOKEN; NATS_CA/NATS_CERT/NATS_KEY for TLS.
 *
 * Why a separate step: coordinators and agents only make sure the streams exist (and keep an
 * existing stream's replica count), and site agents are not allowed to create streams at all.
 * Run it again to change nothing; exit codes: 0 done, 1 NATS refused or unreachable, 2 bad flags.
 */
import { parseArgs } from 'node:util';
import { createSubjects } from '@drc/contracts';
import { connectNats, ensureStreams, natsAuthFromEnv } from '@drc/runtime';

async function main(): Promise<number> {
  let values: { replicas?: string | undefined; prefix?: string | undefined; nats?: string | undefined };
  try {
    ({ values } = parseArgs({ options: { replicas: { type: 'string' }, prefix: { type: 'string' }, nats: { type: 'string' } } }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const replicas = Number(values.replicas ?? '3');
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    process.stderr.write(`--replicas: expected 1 to 5, got "${values.replicas}"\n`);
    return 2;
  }
  let subjects;
  try {
    subjects = createSubjects(values.prefix ?? process.env.DRC_PREFIX ?? 'drc');
  } catch (e) {
    process.stderr.write(`--prefix: ${(e as Error).message}\n`);
    return 2;
  }
  const url = values.nats ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  let nc;
  try {
    nc = await connectNats({ url, name: 'drc-create-streams', reconnect: false, ...natsAuthFromEnv() });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  try {
    const jsm = await ensureStreams(nc, subjects, { replicas });
    for (const name of Object.values(subjects.streams)) {
      const si = await jsm.streams.info(name);
      // An existing stream keeps its replica count (ensureStreams only updates subjects and age).
      const note = si.config.num_replicas === replicas ? '' : ` (existing stream: change it with \`nats stream edit ${name} --replicas ${replicas}\`)`;
      process.stdout.write(`stream ${name}: subjects ${si.config.subjects?.join(', ')}, ${si.config.num_replicas} replicas${note}\n`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`creating streams failed: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await nc.close();
  }
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
