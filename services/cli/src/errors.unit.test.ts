import { CommanderError, InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { ApiResponseError, ApiUnavailableError } from './api-client';
import { exitFor, UsageError } from './errors';
import { EXIT } from './exit-codes';

/** Issue 18: a CLI error becomes an exit code by its code, in one place. */
describe('cli errors - exit codes by error code', () => {
  it('cli errors - usage 2, API unreachable 3, API answered an error 1', () => {
    expect(exitFor(new UsageError('--database-url is required'))).toEqual({ exit: EXIT.usage, message: '--database-url is required' });
    expect(exitFor(new ApiUnavailableError('http://127.0.0.1:1', 'cannot reach the coordinator API'))).toEqual({ exit: EXIT.unavailable, message: 'cannot reach the coordinator API' });
    expect(exitFor(new ApiResponseError(404, {}, '404 unknown workload "x"'))).toEqual({ exit: EXIT.failed, message: '404 unknown workload "x"' });
  });

  it("cli errors - a dependency out of reach is 3 like the API (runtime's DEPENDENCY_UNAVAILABLE), a bad config 1", () => {
    expect(exitFor(Object.assign(new Error('nats is not reachable'), { code: 'DEPENDENCY_UNAVAILABLE' })).exit).toBe(EXIT.unavailable);
    expect(exitFor(Object.assign(new Error('x.yaml: invalid configuration'), { code: 'CONFIG_INVALID' })).exit).toBe(EXIT.failed);
  });

  it("cli errors - commander's own: help/version 0 and no message, a bad argument 2", () => {
    expect(exitFor(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).toEqual({ exit: EXIT.ok });
    expect(exitFor(new InvalidArgumentError('expected a time'))).toEqual({ exit: EXIT.usage });
  });

  it('cli errors - the message decides nothing: anything without a known code is 1', () => {
    expect(exitFor(new Error('cannot reach the coordinator API at x'))).toEqual({ exit: EXIT.failed, message: 'cannot reach the coordinator API at x' });
    expect(exitFor(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).exit).toBe(EXIT.failed);
  });
});
