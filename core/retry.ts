import { isRetriable } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
  factor: number;
  /** Decides whether an error is worth another attempt; default: the error's `retriable` flag. */
  shouldRetry: (error: unknown, attempt: number) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

/** How often and how fast to try again, without the caller's decision and signal; named policies are constants of this type. */
export type RetryPolicy = Pick<RetryOptions, 'attempts' | 'initialDelayMs' | 'maxDelayMs' | 'jitter' | 'factor'>;

export const defaultRetryOptions: RetryOptions = {
  attempts: 5,
  initialDelayMs: 300,
  maxDelayMs: 30_000,
  jitter: 0.2,
  factor: 2,
  shouldRetry: (error) => isRetriable(error),
};

/** The delay before attempt `attempt + 1` (attempt counts from 1). */
export function backoffDelay(
  attempt: number,
  options: Pick<RetryOptions, 'initialDelayMs' | 'maxDelayMs' | 'jitter' | 'factor'>,
  random: () => number = Math.random,
): number {
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** (attempt - 1));
  const spread = 1 + options.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(options.maxDelayMs, base * spread)));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `task` until it succeeds, the error is not worth retrying, or attempts run out. */
export async function retry<T>(task: (attempt: number) => Promise<T>, options: Partial<RetryOptions> = {}): Promise<T> {
  const opts: RetryOptions = { ...defaultRetryOptions, ...options };
  for (let attempt = 1; ; attempt++) {
    try {
      return await task(attempt);
    } catch (error) {
      if (attempt >= opts.attempts || !opts.shouldRetry(error, attempt) || opts.signal?.aborted) throw error;
      const delay = backoffDelay(attempt, opts);
      opts.onRetry?.(error, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}

/**
 * The waits of a loop that runs until it is stopped (follow a stream, keep a connection): each
 * failure in a row waits longer, per `policy`; a success starts over. For a task that ends, use `retry`.
 */
export class Backoff {
  private failures = 0;

  constructor(private readonly policy: Pick<RetryPolicy, 'initialDelayMs' | 'maxDelayMs' | 'jitter' | 'factor'>) {}

  /** The wait after one more failure. */
  next(): number {
    this.failures++;
    return backoffDelay(this.failures, this.policy);
  }

  succeeded(): void {
    this.failures = 0;
  }

  /** Waits out the next delay; resolves early (without throwing) when `signal` aborts. */
  async wait(signal?: AbortSignal): Promise<void> {
    await sleep(this.next(), signal).catch(() => undefined);
  }
}
