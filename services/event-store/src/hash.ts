import { createHash } from 'node:crypto';

/** The previous hash of a stream's first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** Pure. Canonical JSON: object keys sorted, undefined dropped; equal values give equal bytes. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * Pure. The hash of one event: sha256 over the previous hash and the canonical bytes of
 * stream, position, type, data and metadata. Changing any of them, or the order, breaks the chain.
 */
export function eventHash(prevHash: string, e: { stream: string; position: number; type: string; data: unknown; metadata: unknown }): string {
  return createHash('sha256')
    .update(prevHash)
    .update('\n')
    .update(canonicalJson([e.stream, e.position, e.type, e.data, e.metadata]))
    .digest('hex');
}
