/**
 * The limit row of issue 20's scenario: `scenarioSize` documents of `--size` bytes written in
 * insertMany batches of 1,000 while a bare driver change stream (`watch()`, batches of 1,000 as in the
 * other watch rows) reads them; events/s and the server's CPU from the first insert until the stream
 * has read the last event. Its changeflow counterpart is `source, scenario …` in bench/source.ts.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { insertBacklog, type BacklogDoc } from './lib/backlog.js';
import { countGetMores, describeReads } from './lib/get-more-counter.js';
import { serverCpuMeter } from './lib/server-cpu.js';
import type { BenchContext, BenchStage } from './lib/stage.js';
import { nowMs } from './lib/timing.js';

export const WATCH_SCENARIO = 'mongodb watch() loop, scenario: 200k inserts in batches of 1,000';

/** Documents the scenario writes: the 200,000, or 20,000 for a `--quick` smoke run. */
export function scenarioSize(ctx: BenchContext): number {
  return ctx.quick ? 20_000 : 200_000;
}

export const watchScenario: BenchStage = {
  name: WATCH_SCENARIO,
  kind: 'limit',
  async run(ctx) {
    const dbName = `bench_watchsc_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
    const writer = new MongoClient(ctx.mongodb);
    const watcher = new MongoClient(ctx.mongodb, { monitorCommands: true });
    await Promise.all([writer.connect(), watcher.connect()]);
    try {
      const coll = writer.db(dbName).collection<BacklogDoc>('events');
      const stream = watcher.db(dbName).collection('events').watch([], { batchSize: 1000 });
      const count = scenarioSize(ctx);
      let markerSeen = false;
      let received = 0;
      let lastAt = 0;
      const all = new Promise<void>((resolve, reject) => {
        stream.on('change', (change: { operationType: string; documentKey?: { _id?: number } }) => {
          if (change.operationType !== 'insert') return;
          if ((change.documentKey?._id ?? 0) < 0) {
            markerSeen = true;
            return;
          }
          received += 1;
          if (received >= count) {
            lastAt = nowMs();
            resolve();
          }
        });
        stream.on('error', reject);
      });
      // The stream is open once a marker inserted after watch() comes back.
      for (let i = 1; !markerSeen; i++) {
        if (i > 150) throw new Error('the change stream delivered no event within 30 s');
        await coll.insertOne({ _id: -i, t: Date.now(), pad: '' });
        await new Promise((r) => setTimeout(r, 200));
      }
      const reads = countGetMores(watcher);
      const cpu = serverCpuMeter(ctx.mongodbPid);
      const started = nowMs();
      const insertSeconds = await insertBacklog(coll, count, ctx);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        all,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`watch() read ${received} of ${count} events within 300 s`)), 300_000))),
      ]).finally(() => clearTimeout(timer));
      const seconds = (lastAt - started) / 1000;
      const serverCpuSecPer1k = cpu.per1k(count);
      await stream.close();
      await writer
        .db(dbName)
        .dropDatabase()
        .catch(() => undefined);
      return {
        eventsPerSec: count / seconds,
        events: count,
        seconds,
        serverCpuSecPer1k,
        note: `${count} inserts in batches of 1,000 (${insertSeconds.toFixed(1)} s) while watch() reads; until the last event read; ${describeReads(reads.getMores, reads.empty, reads.events)}`,
      };
    } finally {
      await Promise.all([writer.close(), watcher.close()]);
    }
  },
};
