import { describe, expect, it } from 'vitest';
import { isDroppedConnectionError } from './process-entry';

describe('isDroppedConnectionError', () => {
  it('accepts socket and PostgreSQL connection failures, nothing else', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    for (const c of ['ECONNRESET', 'ECONNREFUSED', 'CONNECTION_CLOSED', '57P01', '57P03', '57014', '08006']) expect(isDroppedConnectionError(err(c))).toBe(true);
    for (const c of ['23505', 'ERR_INVALID_ARG_TYPE', '', 'EACCES']) expect(isDroppedConnectionError(err(c))).toBe(false);
    expect(isDroppedConnectionError(new Error('read ECONNRESET'))).toBe(false); // no code: not ours to judge
    expect(isDroppedConnectionError('ECONNRESET')).toBe(false);
    expect(isDroppedConnectionError(null)).toBe(false);
    expect(isDroppedConnectionError(undefined)).toBe(false);
  });
});
