import { createHash, randomUUID } from 'node:crypto';
import { CommandRequestBodySchema, type CommandRecord } from '@drc/contracts';
import { Hono } from 'hono';
import type { Coordinator } from '../coordinator';
import { actorOf, requireRole, type AuthVariables } from './auth';
import { ApiError, badRequest, httpStatus } from './errors';

/** How many command records and idempotency keys are kept in memory (oldest dropped first). */
const KEEP = 10_000;

interface IdempotentEntry {
  fingerprint: string;
  commandId: string;
  status: 202 | 409;
}

/** Pure. Bounded insertion-ordered map set: the oldest entry goes when full. */
function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.set(key, value);
  if (map.size > KEEP) map.delete(map.keys().next().value as K);
}

/**
 * Operator commands: POST /api/v1/workloads/:id/commands (one route for every command; the
 * body names it) and GET /api/v1/commands/:id. Not pure: keeps the records of recent commands
 * and the idempotency keys in memory (a restarted coordinator forgets them; the commands
 * themselves are in the workload streams, correlated by their id).
 */
export function createCommandRoutes(coordinator: Coordinator): Hono<{ Variables: AuthVariables }> {
  const app = new Hono<{ Variables: AuthVariables }>();
  const records = new Map<string, CommandRecord>();
  const idempotency = new Map<string, Promise<IdempotentEntry>>();

  app.post('/workloads/:id/commands', requireRole('operator'), async (c) => {
    const workloadId = c.req.param('id');
    const raw: unknown = await c.req.json().catch(() => {
      throw new ApiError('BAD_REQUEST', 'body: expected a JSON object', { field: 'body' });
    });
    const parsed = CommandRequestBodySchema.safeParse(raw);
    if (!parsed.success) throw badRequest('body', parsed.error.issues);
    const body = parsed.data;
    if (!coordinator.hasWorkload(workloadId)) throw new ApiError('WORKLOAD_NOT_FOUND', `unknown workload "${workloadId}"`);
    const principal = c.get('principal');
    const key = c.req.header('idempotency-key');
    if (key !== undefined && (key.length === 0 || key.length > 200)) {
      throw new ApiError('BAD_REQUEST', 'Idempotency-Key: expected 1 to 200 characters', { field: 'Idempotency-Key' });
    }

    const run = async (): Promise<IdempotentEntry> => {
      const commandId = randomUUID();
      const actor = actorOf(principal);
      const record: CommandRecord = {
        commandId,
        workloadId,
        command: body.command,
        ...(body.targetSite !== undefined ? { targetSite: body.targetSite } : {}),
        ...(body.reason !== undefined ? { reason: body.reason } : {}),
        actor,
        status: 'pending',
        decisions: [],
        requestedAt: Date.now(),
      };
      remember(records, commandId, record);
      try {
        const r = await coordinator.operatorCommand({
          workloadId,
          command: body.command,
          actor,
          requestId: commandId,
          ...(body.targetSite !== undefined ? { targetSite: body.targetSite } : {}),
          ...(body.reason !== undefined ? { reason: body.reason } : {}),
        });
        record.state = r.state;
        record.decisions = r.outcome.decisions.filter((d) => d.type !== 'OperatorCommandRejected');
        record.status = r.accepted ? 'accepted' : 'rejected';
        if (!r.accepted && r.reason !== undefined) record.rejectionReason = r.reason;
        return { fingerprint: '', commandId, status: r.accepted ? 202 : 409 };
      } catch (e) {
        record.status = 'failed';
        throw e;
      }
    };

    let entry: IdempotentEntry;
    if (key === undefined) {
      entry = await run();
    } else {
      // The key is scoped to the caller and the workload; the fingerprint is the rest of the request.
      const scoped = `${principal?.name ?? ''}\u0000${workloadId}\u0000${key}`;
      const fingerprint = createHash('sha256').update(JSON.stringify([body.command, body.targetSite ?? null, body.reason ?? null])).digest('hex');
      let pending = idempotency.get(scoped);
      if (!pending) {
        pending = run().then((e) => ({ ...e, fingerprint }));
        remember(idempotency, scoped, pending);
        // A failed attempt (store down, not leader) must not pin the key: the client retries it.
        pending.catch(() => idempotency.delete(scoped));
      }
      entry = await pending;
      if (entry.fingerprint !== fingerprint) {
        throw new ApiError('IDEMPOTENCY_KEY_REUSED', `Idempotency-Key "${key}" was already used with a different request body`, { commandId: entry.commandId });
      }
    }
    const record = records.get(entry.commandId);
    const location = `/api/v1/commands/${entry.commandId}`;
    c.header('location', location);
    if (entry.status === 409) {
      return c.json(
        {
          error: { code: 'COMMAND_NOT_ALLOWED', message: record?.rejectionReason ?? `${body.command} is not allowed now`, state: record?.state, commandId: entry.commandId },
          command: record,
        },
        httpStatus('COMMAND_NOT_ALLOWED'),
      );
    }
    return c.json(record, 202);
  });

  app.get('/commands/:id', requireRole('viewer'), (c) => {
    const record = records.get(c.req.param('id'));
    if (!record) throw new ApiError('COMMAND_NOT_FOUND', `unknown command "${c.req.param('id')}" (or forgotten since this coordinator started)`);
    const view = coordinator.workloadView(record.workloadId);
    return c.json({ ...record, workloadState: view?.state ?? null, settled: view ? isSettled(view.state) : null });
  });

  return app;
}

/** Pure. True when a workload state needs nothing more from the coordinator (the CLI's `wait` stops there). */
export function isSettled(state: string): boolean {
  return /^(protected|degraded|failedOver|paused|escalated|awaitingApproval)$/.test(state.split('.')[0] ?? state);
}
