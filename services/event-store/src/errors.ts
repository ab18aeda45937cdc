/** Typed event-store errors: parsed once at the adapter, with a stable `code` and a retryable flag. */

export class WrongExpectedVersionError extends Error {
  readonly code = 'EVENTSTORE_WRONG_VERSION' as const;
  readonly retryable = false;
  constructor(
    readonly stream: string,
    readonly expected: string,
    readonly actual: number,
  ) {
    super(`stream ${stream}: expected version ${expected}, actual ${actual}`);
    this.name = 'WrongExpectedVersionError';
  }
}

export class EventStoreUnavailableError extends Error {
  readonly code = 'EVENTSTORE_UNAVAILABLE' as const;
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EventStoreUnavailableError';
  }
}

export class DuplicateEventIdError extends Error {
  readonly code = 'EVENTSTORE_DUPLICATE_ID' as const;
  readonly retryable = false;
  constructor(readonly ids: string[]) {
    super(`event ids already stored elsewhere: ${ids.join(', ')}`);
    this.name = 'DuplicateEventIdError';
  }
}

const has = (e: unknown, code: string) => typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;

export function isWrongExpectedVersionError(e: unknown): e is WrongExpectedVersionError {
  return has(e, 'EVENTSTORE_WRONG_VERSION');
}

export function isEventStoreUnavailableError(e: unknown): e is EventStoreUnavailableError {
  return has(e, 'EVENTSTORE_UNAVAILABLE');
}

export function isDuplicateEventIdError(e: unknown): e is DuplicateEventIdError {
  return has(e, 'EVENTSTORE_DUPLICATE_ID');
}
