import { toError } from '../core/errors.js';
import type { Consumer, IncomingRecord } from '../core/kafka/index.js';

/**
 * Runs a subscribed `consumer` until every partition in `ends` is read up to its end offset
 * (exclusive): what a topic held when the caller looked, not what arrives later. `take` gets each
 * batch's records below the end, in order; an error it throws ends the drain with that error.
 * Rejects with `timeout.error()` after `timeout.ms`.
 */
export function drainToEnds(
  consumer: Consumer,
  ends: ReadonlyMap<number, number>,
  take: (partition: number, records: IncomingRecord[]) => Promise<void>,
  timeout: { ms: number; error: () => Error },
): Promise<void> {
  const pending = new Map(ends);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeout.error()), timeout.ms);
    const fail = (error: unknown): void => {
      clearTimeout(timer);
      reject(toError(error));
    };
    consumer
      .run(async (batch, ctx) => {
        const stop = pending.get(batch.partition);
        if (stop === undefined || ctx.isStale()) return;
        const records = batch.records.filter((r) => Number(r.offset) < stop);
        const tail = batch.records[batch.records.length - 1];
        if (records.length > 0) {
          try {
            await take(batch.partition, records);
          } catch (error) {
            fail(error);
            return;
          }
        }
        if (tail && Number(tail.offset) + 1 >= stop) pending.delete(batch.partition);
        if (pending.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      })
      .catch(fail);
  });
}
