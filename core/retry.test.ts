import { ChangeflowError, UnavailableError, ValidationError } from './errors.js';
import { Backoff, backoffDelay, retry } from './retry.js';

describe('retry', () => {
  const fast = { initialDelayMs: 1, maxDelayMs: 5, jitter: 0 };

  it('retries retriable errors until the task succeeds', async () => {
    let calls = 0;
    const result = await retry(async () => {
      calls++;
      if (calls < 3) throw new UnavailableError('not yet');
      return 'done';
    }, fast);
    expect(result).toBe('done');
    expect(calls).toBe(3);
  });

  it('does not retry errors that are not retriable', async () => {
    let calls = 0;
    await expect(
      retry(async () => {
        calls++;
        throw new ValidationError('bad input');
      }, fast),
    ).rejects.toThrow('bad input');
    expect(calls).toBe(1);
  });

  it('gives up after the configured attempts and keeps the cause', async () => {
    let calls = 0;
    const cause = new Error('socket closed');
    await expect(
      retry(
        async () => {
          calls++;
          throw new ChangeflowError('kafka down', { retriable: true, cause });
        },
        { ...fast, attempts: 4 },
      ),
    ).rejects.toMatchObject({ message: 'kafka down', cause });
    expect(calls).toBe(4);
  });

  it('grows delays exponentially, capped, with bounded jitter', () => {
    const opts = { initialDelayMs: 100, maxDelayMs: 1_000, jitter: 0.2, factor: 2 };
    expect(backoffDelay(1, opts, () => 0.5)).toBe(100);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(400);
    expect(backoffDelay(10, opts, () => 0.5)).toBe(1_000);
    expect(backoffDelay(2, opts, () => 0)).toBe(160);
    expect(backoffDelay(2, opts, () => 1)).toBe(240);
  });

  it('Backoff: waits longer with each failure in a row and starts over after a success', () => {
    const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, jitter: 0, factor: 2 });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([100, 200, 400]);
    for (let i = 0; i < 10; i++) backoff.next();
    expect(backoff.next()).toBe(1_000);
    backoff.succeeded();
    expect(backoff.next()).toBe(100);
  });

  it('Backoff: an aborted wait ends at once without throwing', async () => {
    const backoff = new Backoff({ initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0, factor: 2 });
    const stop = new AbortController();
    const started = Date.now();
    const waiting = backoff.wait(stop.signal);
    stop.abort();
    await expect(waiting).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
