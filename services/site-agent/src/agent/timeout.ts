import type { Clock } from '@drc/runtime';

/** Resolves with `p`, or rejects after `ms` on `clock` (the work itself is not cancelled). */
export function withTimeout<T>(clock: Clock, p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = clock.setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clock.clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clock.clearTimeout(t);
        reject(e);
      },
    );
  });
}
