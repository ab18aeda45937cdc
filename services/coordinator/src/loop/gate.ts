/** A limit on how many async calls run at once. */
export type Gate = <T>(fn: () => Promise<T>) => Promise<T>;

/** Counting semaphore: at most `n` async calls at once (the rest wait their turn, in order). */
export function createGate(n: number): Gate {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
