import { errorMessage, UnavailableError } from '../core/errors.js';
import type { Admin, PartitionOffsets } from '../core/kafka/index.js';
import type { TriggerMetrics } from './metrics.js';

interface PartitionPosition {
  topic: string;
  partition: number;
  /** The first offset not yet processed (what the next commit will cover from). */
  next: number | undefined;
  /** Kafka timestamp of the record at `next`, when it has been read. */
  nextTimestamp: number | undefined;
  /** Log end offset (high watermark), from fetched batches or asked of the broker. */
  logEnd: number;
  /** When `next` last moved: a partition that has not moved for a while gets its log end asked for. */
  movedAt: number;
}

export interface LagTrackerOptions {
  metrics: TriggerMetrics;
  /** Asks the broker for a topic's log end offsets; the runtime passes its admin client. */
  logEnd: (topic: string) => Promise<PartitionOffsets[]>;
  /** How often lag is reported and a stuck partition's log end refreshed. Default 5 s. */
  intervalMs?: number;
  now?: () => number;
  onError?: (error: unknown) => void;
  /** Whether this consumer still owns a partition; a partition moved to another member stops counting. */
  owns?: (topic: string, partition: number) => boolean;
}

/**
 * Lag that tells the truth while a partition is stuck. Offsets processed are known only when a batch
 * finishes, and a stuck partition fetches nothing new, so the lag of the last finished batch would
 * stay 0 forever. Here each partition keeps its first unprocessed offset and the timestamp of that
 * record; a timer reports records behind (log end - next) and seconds behind (age of that record),
 * and asks the broker for the log end of partitions that have not moved for an interval.
 */
export class LagTracker {
  private readonly positions = new Map<string, PartitionPosition>();
  private readonly intervalMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;

  constructor(private readonly options: LagTrackerOptions) {
    this.intervalMs = options.intervalMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  private position(topic: string, partition: number): PartitionPosition {
    const id = `${topic}:${partition}`;
    let p = this.positions.get(id);
    if (!p) {
      p = { topic, partition, next: undefined, nextTimestamp: undefined, logEnd: 0, movedAt: this.now() };
      this.positions.set(id, p);
    }
    return p;
  }

  /** A batch was fetched: its first record and the partition's high watermark. */
  fetched(topic: string, partition: number, first: { offset: string; timestamp: number }, highWatermark: string): void {
    const p = this.position(topic, partition);
    const offset = Number(first.offset);
    if (p.next === undefined || offset < p.next) {
      // First sight, or the group rewound the partition (rebalance, seek).
      p.next = offset;
      p.nextTimestamp = first.timestamp;
    } else if (offset === p.next && p.nextTimestamp === undefined) {
      p.nextTimestamp = first.timestamp;
    }
    p.logEnd = Math.max(p.logEnd, Number(highWatermark));
    this.report(p);
  }

  /** Records before `next` are done; `nextTimestamp` is the timestamp of the record at `next` if already read. */
  processed(topic: string, partition: number, next: string, nextTimestamp: number | undefined): void {
    const p = this.position(topic, partition);
    p.next = Number(next);
    p.nextTimestamp = nextTimestamp;
    p.movedAt = this.now();
    this.report(p);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reports every partition; refreshes the log end of those stuck with work pending for an interval. */
  async tick(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      for (const [id, p] of this.positions) {
        if (this.options.owns?.(p.topic, p.partition) !== false) continue;
        this.positions.delete(id);
        this.options.metrics.partitionLag(p.topic, p.partition, 0, 0);
      }
      // Only partitions with work pending that did not move: an idle, caught-up partition costs no request
      // (new records reach it through the consumer's own fetches).
      const stuck = [...this.positions.values()].filter((p) => p.next !== undefined && p.logEnd > p.next && this.now() - p.movedAt >= this.intervalMs);
      for (const topic of new Set(stuck.map((p) => p.topic))) {
        try {
          for (const o of await this.options.logEnd(topic)) {
            const p = this.positions.get(`${topic}:${o.partition}`);
            if (p) p.logEnd = Math.max(p.logEnd, Number(o.high));
          }
        } catch (error) {
          this.options.onError?.(error);
        }
      }
      for (const p of this.positions.values()) this.report(p);
    } finally {
      this.refreshing = false;
    }
  }

  private report(p: PartitionPosition): void {
    if (p.next === undefined) return;
    const behind = Math.max(0, p.logEnd - p.next);
    const seconds = behind > 0 && p.nextTimestamp !== undefined ? Math.max(0, (this.now() - p.nextTimestamp) / 1000) : 0;
    this.options.metrics.partitionLag(p.topic, p.partition, behind, seconds);
  }
}

/** The log end offsets of a topic through an admin client connected on first use. */
export function adminLogEnd(makeAdmin: () => Admin): { logEnd: (topic: string) => Promise<PartitionOffsets[]>; close: () => Promise<void> } {
  let admin: Promise<Admin> | undefined;
  return {
    logEnd: async (topic) => {
      if (!admin) {
        const created = makeAdmin();
        admin = created.connect().then(
          () => created,
          (error: unknown) => {
            admin = undefined;
            throw new UnavailableError(`could not ask the broker for log end offsets: ${errorMessage(error)}`, { cause: error });
          },
        );
      }
      return (await admin).topicOffsets(topic);
    },
    close: async () => {
      const current = admin;
      admin = undefined;
      if (current) await (await current.catch(() => undefined))?.disconnect().catch(() => undefined);
    },
  };
}
