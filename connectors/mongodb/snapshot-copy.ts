import type { OutgoingRecord } from '../../core/kafka/transport.js';
import { cursorBatches } from './cursor-batches.js';
import type { OrderedSender } from './ordered-sender.js';
import type { RangeProgress, SnapshotProgress as ProgressDisplay } from './snapshot-progress.js';
import { rangeQueries } from './snapshot-range.js';
import { snapshotFromBytes } from './source-change.js';
import { rangeName, type SnapshotProgress, type SnapshotRange, type SourcePosition } from './source-position.js';
import type { Acked, SourceSession } from './source-session.js';

export function splitNamespace(ns: string): { db: string; coll: string } {
  const dot = ns.indexOf('.');
  return { db: ns.slice(0, dot), coll: ns.slice(dot + 1) };
}

/**
 * One snapshot's copy, shared by the cursors that read its ranges side by side: each range is read in
 * `_id` order by one cursor, and its records go to Kafka through one ordered sender. The progress of
 * every range is updated and stamped on a batch in the same step as the batch is handed to the
 * sender (one at a time, `handOver`), so a batch's position never claims another range's batch that
 * was handed over after it: the in-order acknowledgements then make each stored position true for
 * every range at once.
 */
export class SnapshotCopy {
  private readonly ranges: SnapshotRange[];
  private copied: number;
  private readonly active = new Set<number>();
  private turn: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  acked: SourcePosition;
  readonly sender: OrderedSender<Acked>;

  constructor(
    private readonly session: SourceSession,
    private readonly from: SourcePosition,
    progress: SnapshotProgress,
    /** Estimated documents per range, for the display. */
    private readonly rangeTotals: readonly number[],
    private readonly display: ProgressDisplay,
  ) {
    this.ranges = progress.ranges.map((r) => ({ ...r }));
    this.copied = progress.copied;
    this.acked = from;
    this.sender = session.newSender((a) => (this.acked = a.position));
  }

  /** Stopping, or another range failed: every cursor ends. */
  get halted(): boolean {
    return this.session.stopping || this.failure !== null;
  }

  get firstFailure(): unknown {
    return this.failure;
  }

  get documentsCopied(): number {
    return this.copied;
  }

  pendingRanges(): number[] {
    return this.ranges.flatMap((r, i) => (r.done ? [] : [i]));
  }

  /** Copies range `index` from where it stopped; marks it done when its last document is handed over. */
  async copyRange(index: number): Promise<void> {
    try {
      await this.copy(index);
    } catch (error) {
      this.failure ??= error;
      throw error;
    } finally {
      this.active.delete(index);
    }
  }

  private async copy(index: number): Promise<void> {
    const range = this.ranges[index] as SnapshotRange;
    const { client, encoder, router, avro, topics, valueEncoder } = this.session.parts;
    const { config } = this.session;
    const ns = splitNamespace(range.ns);
    const snapshotEncoder = { ...encoder, multiNamespace: !config.watch.coll };
    const needEvent = valueEncoder !== undefined;
    const filters = rangeQueries(range);
    this.active.add(index);
    await avro?.ready([topics.change(ns.db, ns.coll, config.topic)]);
    let chunk: OutgoingRecord[] = [];
    let documents = 0;
    let bytes = 0;
    let lastCopiedKey: string | undefined;
    const flush = async (): Promise<void> => {
      if (documents === 0) return;
      const records = chunk;
      const count = documents;
      chunk = [];
      documents = 0;
      bytes = 0;
      await this.handOver(index, records, count, lastCopiedKey, false);
    };
    for (const filter of filters) {
      const cursor = client
        .db(ns.db)
        .collection(ns.coll)
        // Raw: each document's BSON bytes, encoded straight to the record value (snapshotFromBytes).
        .find(filter, { sort: { _id: 1 }, batchSize: config.snapshotBatchSize, raw: true });
      try {
        batches: for await (const batch of cursorBatches(cursor)) {
          for (const doc of batch) {
            if (this.halted) break batches;
            const change = snapshotFromBytes(doc as unknown as Uint8Array, ns, snapshotEncoder, needEvent);
            bytes += router.add(chunk, change);
            documents += 1;
            // A snapshot document's key is canonicalText({ _id }): what a resumed copy starts after.
            if (change.key !== null) lastCopiedKey = change.key;
            if (documents >= config.snapshotBatchSize || bytes >= config.maxBatchBytes) await flush();
          }
        }
        if (this.failure === null) await flush();
      } finally {
        await cursor.close().catch(() => undefined);
      }
      if (this.halted) return;
    }
    // An empty batch: "done" is acknowledged, like the documents, only behind every batch before it.
    await this.handOver(index, [], 0, undefined, true);
  }

  /** Stamps the progress on `records` and hands them to the sender, one batch at a time. */
  private handOver(index: number, records: OutgoingRecord[], documents: number, lastKey: string | undefined, done: boolean): Promise<void> {
    const { router, admin, metrics } = this.session.parts;
    const name = this.session.config.name;
    const step = this.turn.then(async () => {
      // After another range failed nothing more is sent: the session restarts from the stored position.
      if (this.failure !== null) return;
      this.session.parts.assertLease();
      if (records.length > 0) await router.ensureTopics(admin, records);
      const range = this.ranges[index] as SnapshotRange;
      this.ranges[index] = { ...range, copied: range.copied + documents, ...(lastKey === undefined ? {} : { lastKey }), ...(done ? { done } : {}) };
      this.copied += documents;
      const position = this.from.withSnapshot({ ranges: this.ranges, copied: this.copied });
      await this.sender.submit(records, { position, counts: new Map(documents > 0 ? [['snapshot', documents]] : []) });
      metrics.snapshotCopied.set({ source: name }, this.copied);
      this.display.update(this.copied, this.activeProgress());
      await this.session.maybeCheckpoint(this.acked);
    });
    this.turn = step.catch(() => undefined);
    return step;
  }

  private activeProgress(): RangeProgress[] {
    return [...this.active].map((i) => {
      const range = this.ranges[i] as SnapshotRange;
      return { name: rangeName(range), copied: range.copied, total: this.rangeTotals[i] ?? 0 };
    });
  }
}
