import { describe, expect, it } from 'vitest';
import { CommandRequestBodySchema } from './api';
import { parseDrcConfig } from './config';

describe('config auth section', () => {
  const base = { sites: [{ id: 'A' }, { id: 'B' }] };
  it('is optional (auth disabled) and accepts sha256 tokens with roles', () => {
    expect(parseDrcConfig(base).ok).toBe(true);
    const r = parseDrcConfig({ ...base, auth: { tokens: [{ name: 'noc', sha256: 'a'.repeat(64), role: 'viewer' }] } });
    expect(r.ok && r.value.auth?.tokens[0]?.role).toBe('viewer');
  });
  it('names the field of a bad token entry', () => {
    const r = parseDrcConfig({ ...base, auth: { tokens: [{ name: 'noc', sha256: 'secret', role: 'god' }] } });
    expect(r.ok).toBe(false);
    const paths = r.ok ? [] : r.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['auth.tokens[0].sha256', 'auth.tokens[0].role']));
  });
});

describe('api command body', () => {
  it('rejects unknown commands and extra fields', () => {
    expect(CommandRequestBodySchema.safeParse({ command: 'failover', targetSite: 'B' }).success).toBe(true);
    expect(CommandRequestBodySchema.safeParse({ command: 'explode' }).success).toBe(false);
    expect(CommandRequestBodySchema.safeParse({ command: 'pause', force: true }).success).toBe(false);
  });
});
