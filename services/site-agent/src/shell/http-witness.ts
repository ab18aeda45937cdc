import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { SiteIdSchema } from '@drc/contracts';
import type { Logger } from '@drc/runtime';
import type { WitnessProbe } from '../agent/ports';

/**
 * Cross-site witness probes that do not go through NATS.
 *
 * The coordinator reaches the sites through NATS, so "the coordinator cannot hear site B" and
 * "nobody can hear site B" look the same on NATS alone. Each agent therefore also answers a
 * tiny HTTP probe and probes its peers directly, over the sites' own network paths. A peer is
 * reachable when it was heard either way within the lease TTL; the agent's heartbeat carries
 * that view (`peers`), and the coordinator declares a site lost only when no witness reaches it.
 * The same view decides self-fencing: an agent that lost NATS but still reaches a majority of
 * sites fences nothing (Patroni's failsafe mode).
 */

export const WitnessReplySchema = z.strictObject({
  kind: z.literal('witness'),
  v: z.literal(1),
  siteId: SiteIdSchema,
  agentId: z.string().min(1).max(128),
  sentAt: z.number().int().nonnegative(),
});
export type WitnessReply = z.infer<typeof WitnessReplySchema>;

export const WITNESS_PATH = '/v1/witness';

export interface WitnessOptions {
  siteId: string;
  agentId: string;
  /** Where this agent answers probes; omit to answer none (it still probes its peers). */
  listen?: { host: string; port: number };
  /** Peer site → base URL of its agent's witness endpoint (as seen from this site). */
  peers: Record<string, string>;
  /** Per-probe timeout. */
  timeoutMs: number;
  logger: Logger;
  now?: () => number;
}

/** Parses `SITE=URL` pairs (the `--witness-peer` flag); throws naming the bad entry. */
export function parseWitnessPeers(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const i = e.indexOf('=');
    const site = i > 0 ? e.slice(0, i) : '';
    const url = i > 0 ? e.slice(i + 1) : '';
    if (!SiteIdSchema.safeParse(site).success || !URL.canParse(url)) throw new Error(`--witness-peer "${e}": expected SITE=URL (e.g. ams=http://10.0.2.5:7811)`);
    out[site] = url.replace(/\/+$/, '');
  }
  return out;
}

/** Parses `HOST:PORT` or `PORT` (the `--witness-listen` flag). */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:(.+):)?(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`--witness-listen "${v}": expected HOST:PORT or PORT`);
  return { host: m[1] ?? '0.0.0.0', port };
}

/** The production WitnessProbe: answers peers' probes over HTTP and probes theirs. */
export class Witness implements WitnessProbe {
  private server?: Server;
  private readonly now: () => number;
  private readonly inFlight = new Set<string>();

  constructor(private readonly opts: WitnessOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(): Promise<void> {
    const { listen } = this.opts;
    if (!listen) return;
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== WITNESS_PATH) {
        res.writeHead(404).end();
        return;
      }
      const reply: WitnessReply = { kind: 'witness', v: 1, siteId: this.opts.siteId, agentId: this.opts.agentId, sentAt: this.now() };
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(reply));
    });
    // Probes are short; never let a half-open connection pin a socket.
    server.keepAliveTimeout = 1_000;
    server.requestTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /**
   * Probes every peer once; calls `heard(site)` for each that answered as itself. A probe still
   * running from the previous round is not doubled (a black-holed link must not pile up sockets).
   */
  async probeAll(heard: (siteId: string) => void): Promise<void> {
    await Promise.all(
      Object.entries(this.opts.peers).map(async ([site, base]) => {
        if (this.inFlight.has(site)) return;
        this.inFlight.add(site);
        try {
          const res = await fetch(`${base}${WITNESS_PATH}`, { signal: AbortSignal.timeout(this.opts.timeoutMs), headers: { connection: 'close' } });
          const reply = WitnessReplySchema.safeParse(await res.json());
          if (!reply.success || reply.data.siteId !== site) {
            this.opts.logger.warn({ peer: site, url: base }, 'witness probe answered by something that is not that site’s agent');
            return;
          }
          heard(site);
        } catch {
          /* unreachable this round: the lease TTL decides what that means */
        } finally {
          this.inFlight.delete(site);
        }
      }),
    );
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
