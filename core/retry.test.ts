import { ChangeflowError, UnavailableError, ValidationError } from './errors.js';
import { backoffDelay, retry } from './retry.js';

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
});
