import { FunctionError } from '../../processors/sandbox/errors.js';

/** The FunctionError a call rejects with; throws when it resolves or rejects with anything else. */
export async function failure(p: Promise<unknown>): Promise<FunctionError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof FunctionError)) throw new Error(`expected a FunctionError, got ${String(error)}`);
  return error;
}

/** Worst delay of a 10 ms timer on this thread while `work` runs: how long the main thread was blocked. */
export async function mainThreadStall<T>(work: Promise<T>): Promise<{ result: T | unknown; worstMs: number }> {
  let worstMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worstMs = Math.max(worstMs, now - last - 10);
    last = now;
  }, 10);
  const result = await work.catch((e: unknown) => e);
  clearInterval(timer);
  return { result, worstMs };
}
