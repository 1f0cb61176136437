import type { Collection } from 'mongodb';
import type { BenchContext } from './stage.js';
import { nowMs } from './timing.js';

/** A document of the catch-up rows: a sequence number, when it was written, and padding to `--size`. */
export interface BacklogDoc {
  _id: number;
  t: number;
  pad: string;
}

/** Documents per insertMany while the backlog is written. */
const BACKLOG_BATCH = 1_000;

/**
 * How many changes a catch-up row reads: enough that a reader at 15,000 events/s (faster than this
 * server streams) needs the figure's duration, and never fewer than 20,000.
 */
export function backlogSize(ctx: BenchContext): number {
  return Math.max(20_000, Math.round((ctx.durationMs / 1000) * 15_000));
}

/** Writes `count` documents (ids 0…count-1) in batches before anything reads them; returns the seconds it took. */
export async function insertBacklog(coll: Collection<BacklogDoc>, count: number, ctx: BenchContext): Promise<number> {
  const pad = 'x'.repeat(Math.max(0, ctx.messageBytes - 60));
  const started = nowMs();
  let lastLog = started;
  for (let inserted = 0; inserted < count;) {
    const n = Math.min(BACKLOG_BATCH, count - inserted);
    const t = Date.now();
    await coll.insertMany(
      Array.from({ length: n }, (_, i) => ({ _id: inserted + i, t, pad })),
      { ordered: false },
    );
    inserted += n;
    if (nowMs() - lastLog > 5_000) {
      lastLog = nowMs();
      ctx.log(`  backlog: ${inserted.toLocaleString()} of ${count.toLocaleString()} documents written`);
    }
  }
  return (nowMs() - started) / 1000;
}
