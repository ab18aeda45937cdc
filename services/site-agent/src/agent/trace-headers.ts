import { traceHeaders } from '@drc/runtime';

/** Pure. A trace-header carrier over a plain record (a BusMessage's headers, a publish's). */
export function recordCarrier(record: Record<string, string>): { get(k: string): string; set(k: string, v: string): void; keys(): string[] } {
  return { get: (k) => record[k] ?? '', set: (k, v) => void (record[k] = v), keys: () => Object.keys(record) };
}

/** Not pure (reads the active trace context). Headers carrying the active span to the receiver. */
export function activeTraceHeaders(): Record<string, string> {
  const record: Record<string, string> = {};
  traceHeaders(recordCarrier(record));
  return record;
}
