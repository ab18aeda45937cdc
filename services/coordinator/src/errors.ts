/*
 * The coordinator core's typed errors. Each carries a stable `code`; the edges turn codes (never
 * message text) into answers, once: HTTP statuses in api/errors.ts. Messages are for people
 * and may change; codes are a contract.
 */

/** Every code the core throws with. */
export type CoordinatorErrorCode = 'WORKLOAD_NOT_FOUND' | 'NOT_LEADER' | 'PLAN_NOT_FOUND' | 'PLAN_RUN_NOT_FOUND' | 'PLAN_INPUT_REJECTED';

/** No workload of that id is configured on this coordinator. */
export class UnknownWorkloadError extends Error {
  readonly code = 'WORKLOAD_NOT_FOUND' as const;
  readonly retryable = false;
  constructor(readonly workloadId: string) {
    super(`unknown workload "${workloadId}"`);
    this.name = 'UnknownWorkloadError';
  }
}

/** This coordinator is not (or no longer) the leader: it must not append or dispatch. `what` says what was not done. */
export class NotLeaderError extends Error {
  readonly code = 'NOT_LEADER' as const;
  readonly retryable = false;
  constructor(what: string) {
    super(`not the leader: ${what}`);
    this.name = 'NotLeaderError';
  }
}

/** No recovery plan of that name is configured. */
export class UnknownPlanError extends Error {
  readonly code = 'PLAN_NOT_FOUND' as const;
  readonly retryable = false;
  constructor(readonly plan: string) {
    super(`unknown plan "${plan}"`);
    this.name = 'UnknownPlanError';
  }
}

/** No plan run of that id is known to this coordinator. */
export class UnknownPlanRunError extends Error {
  readonly code = 'PLAN_RUN_NOT_FOUND' as const;
  readonly retryable = false;
  constructor(readonly runId: string) {
    super(`unknown plan run "${runId}"`);
    this.name = 'UnknownPlanRunError';
  }
}

const CODES: ReadonlySet<string> = new Set<CoordinatorErrorCode>(['WORKLOAD_NOT_FOUND', 'NOT_LEADER', 'PLAN_NOT_FOUND', 'PLAN_RUN_NOT_FOUND', 'PLAN_INPUT_REJECTED']);

/** Pure. Duck-typed (an error may cross a module copy): an Error whose `code` is one of the core's. */
export function isCoordinatorError(e: unknown): e is Error & { code: CoordinatorErrorCode } {
  if (!(e instanceof Error)) return false;
  const code: unknown = (e as { code?: unknown }).code;
  return typeof code === 'string' && CODES.has(code);
}
