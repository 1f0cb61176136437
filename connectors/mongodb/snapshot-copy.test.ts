import { BSON, Int32, type Document, type MongoClient } from 'mongodb';
import { silentLogger } from '../../core/logger.js';
import type { Admin, KafkaTransport, OutgoingRecord, Producer } from '../../core/kafka/transport.js';
import { createMetricsRegistry } from '../../core/metrics.js';
import { TopicNames } from '../../core/topics.js';
import { canonicalText } from '../../schemas/ejson.js';
import { OffsetStore } from './offset-store.js';
import { RecordRouter } from './record-router.js';
import { runSnapshot } from './snapshot-reader.js';
import { rangesOf } from './snapshot-splits.js';
import { sourceConfigSchema } from './source-config.js';
import { sourceMetrics } from './source-metrics.js';
import { SourcePosition } from './source-position.js';
import { SourceSession } from './source-session.js';

const N = 3_000;
const topics = new TopicNames('t');
const keyOf = (i: number): string => canonicalText({ _id: new Int32(i) });

/** `find` over int `_id`s 0..N-1 as MongoDB answers the range queries ($type matches none of them). */
function fakeClient(): MongoClient {
  const ids = Array.from({ length: N }, (_, i) => i);
  const bound = (v: unknown): number => (typeof v === 'number' ? v : (v as Int32).value);
  const matches = (filter: Document, id: number): boolean => {
    const c = filter['_id'] as Record<string, unknown> | undefined;
    if (c === undefined) return true;
    if ('$type' in c) return false;
    return (
      (c['$gt'] === undefined || id > bound(c['$gt'])) &&
      (c['$gte'] === undefined || id >= bound(c['$gte'])) &&
      (c['$lt'] === undefined || id < bound(c['$lt']))
    );
  };
  const collection = {
    estimatedDocumentCount: () => Promise.resolve(N),
    find: (filter: Document, options: { batchSize: number }) => {
      const docs = ids.filter((id) => matches(filter, id)).map((id) => BSON.serialize({ _id: new Int32(id), pad: 'x'.repeat(50) }));
      let served = 0;
      let buffered: Uint8Array[] = [];
      return {
        // A server round trip per batch, so the ranges' reads interleave.
        hasNext: async () => {
          await new Promise((r) => setTimeout(r, Math.random() * 3));
          buffered = docs.slice(served, served + options.batchSize);
          served += buffered.length;
          return buffered.length > 0;
        },
        readBufferedDocuments: () => buffered.splice(0),
        close: () => Promise.resolve(),
      };
    },
  };
  return { db: () => ({ collection: () => collection }) } as unknown as MongoClient;
}

describe('runSnapshot with ranges side by side', () => {
  it('stores a range as copied through an _id only once Kafka acknowledged every document of it up to there', async () => {
    const config = sourceConfigSchema.parse({
      name: 's',
      uri: 'mongodb://h',
      watch: { db: 'd', coll: 'c' },
      snapshotParallelism: 3,
      snapshotBatchSize: 100,
      maxInFlightBatches: 4,
      checkpointIntervalMs: 1,
    });
    const acked = new Set<string>();
    const violations: string[] = [];
    let saves = 0;
    const producer: Producer = {
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      async send(records: readonly OutgoingRecord[]) {
        const [first] = records;
        if (first?.topic === topics.offsets()) {
          // A crash right after this save would resume from it: everything it claims must be in Kafka already.
          const stored = SourcePosition.decode(String(first.value));
          saves += 1;
          for (const range of stored.snapshot?.ranges ?? []) {
            if (range.lastKey === undefined) continue;
            const from = range.from === undefined ? 0 : Number(/"(-?\d+)"/.exec(range.from)?.[1]);
            const through = Number(/"(-?\d+)"/.exec(range.lastKey)?.[1]);
            for (let i = from; i <= through; i++) if (!acked.has(keyOf(i))) violations.push(`save ${saves} claims ${i} (range from ${from}) before its ack`);
          }
          return [];
        }
        // Acknowledgements come back late and out of order across sends.
        await new Promise((r) => setTimeout(r, Math.random() * 8));
        for (const record of records) acked.add(String(record.key));
        return [];
      },
    };
    const admin = { ensureTopics: () => Promise.resolve() } as unknown as Admin;
    const metrics = sourceMetrics(createMetricsRegistry({ defaultMetrics: false }));
    const session = new SourceSession({
      config,
      client: fakeClient(),
      topics,
      metrics,
      log: silentLogger,
      offsets: new OffsetStore({} as KafkaTransport, topics.offsets(), silentLogger),
      admin,
      producer,
      encoder: { sourceName: 's', cluster: 'rs0', watch: config.watch, mode: 'canonical' },
      router: new RecordRouter(config, topics, 3, metrics, silentLogger, undefined),
      echo: null,
      avro: undefined,
      valueEncoder: undefined,
      progress: { lastSavedAt: 0, lastSaved: null, lastAckedClusterTime: undefined, caughtUp: false, unplaced: 0 },
      signal: new AbortController().signal,
      assertLease: () => undefined,
      report: () => undefined,
    });
    const ranges = rangesOf('d.c', [new Int32(1_000), new Int32(2_000)], { lowest: new Int32(0), highest: new Int32(N - 1) });
    const from = SourcePosition.snapshotting({ clusterTime: { t: 1, i: 0 } }, { ranges, copied: 0 });

    const end = await runSnapshot(session, from);

    expect(end.inSnapshot).toBe(false);
    expect(saves).toBeGreaterThan(5);
    expect(violations.slice(0, 5)).toEqual([]);
    expect(acked.size).toBe(N);
  });
});
