/**
 * The e2e benchmark's writer, on a worker thread of its own: the documents it inserts stand for
 * another application's writes, so its event loop must not be the one the pipeline under test runs
 * on (a late tick there would delay both the writes and the pipeline, and blur what is measured).
 * `runRateWriter` starts it; the worker inserts `{ _id, seq, writtenAt, pad }` at the offered rate,
 * one insertOne each, first for a warm-up and then for the measured part, and reports the latter.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { MongoClient } from 'mongodb';
import { z } from 'zod';
import { atFixedRate } from './timing.js';

const jobSchema = z.object({
  uri: z.string(),
  db: z.string(),
  coll: z.string(),
  ratePerSec: z.number().positive(),
  /** First at the same rate, not reported: `_id` `w<i>`, `seq` `-1000000 - i`. */
  warmupMs: z.number().min(0),
  /** Then the measured writes: `_id` `d<i>`, `seq` `i`. */
  durationMs: z.number().positive(),
  pad: z.string(),
});
export type RateWriterJob = z.infer<typeof jobSchema>;

const resultSchema = z.object({ sent: z.number(), seconds: z.number() });
export type RateWriterResult = z.infer<typeof resultSchema>;

/** Wall-clock milliseconds with sub-millisecond precision, comparable across threads. */
export const wallClock = (): number => performance.timeOrigin + performance.now();

export function runRateWriter(job: RateWriterJob): Promise<RateWriterResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: job });
    worker.once('message', (message: unknown) => {
      const parsed = resultSchema.safeParse(message);
      if (parsed.success) resolve(parsed.data);
      else reject(new Error(`rate writer: unexpected message ${JSON.stringify(message)}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`rate writer exited with code ${code}`));
    });
  });
}

async function writeAtRate(job: RateWriterJob): Promise<RateWriterResult> {
  const client = new MongoClient(job.uri, { maxPoolSize: 50 });
  await client.connect();
  try {
    const collection = client.db(job.db).collection<{ _id: string; seq: number; writtenAt: number; pad: string }>(job.coll);
    if (job.warmupMs > 0) {
      await atFixedRate(job.ratePerSec, job.warmupMs, async (i) => {
        await collection.insertOne({ _id: `w${i}`, seq: -1_000_000 - i, writtenAt: wallClock(), pad: job.pad });
      });
    }
    return await atFixedRate(job.ratePerSec, job.durationMs, async (i) => {
      await collection.insertOne({ _id: `d${i}`, seq: i, writtenAt: wallClock(), pad: job.pad });
    });
  } finally {
    await client.close();
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const result = await writeAtRate(jobSchema.parse(workerData));
  port.postMessage(result);
}
