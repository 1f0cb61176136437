import type { Db } from 'mongodb';
import { SeededRandom } from './soak-random.js';

/** A document of the soak's collections. */
interface SoakDoc {
  _id: number;
  n: number;
  w: number;
  tags: string[];
  kind?: string;
  edits?: number;
  meta?: { at: Date };
}

export type WriteOp = 'insert' | 'update' | 'replace' | 'delete';

/** One write the writer made (and MongoDB acknowledged); `seq` is also the document's `w` field. */
export interface WriteEntry {
  seq: number;
  at: number;
  coll: string;
  id: number;
  op: WriteOp;
}

export interface SoakWriterOptions {
  db: Db;
  collections: readonly string[];
  idsPerCollection: number;
  ratePerSec: number;
  seed: number;
}

/**
 * The soak's writer: one write at a time at a fixed rate (late ticks are skipped, not burst), on
 * documents `{ _id, n, w, tags, … }` of a few collections, mixing inserts, updates with several
 * operators, replacements and deletes, all drawn from the seed. Every acknowledged write is logged;
 * `w` (the write's seq) is set by every write but deletes, so each event can be traced to its write.
 */
export class SoakWriter {
  readonly log: WriteEntry[] = [];
  private readonly random: SeededRandom;
  private readonly live = new Set<string>();
  private running: Promise<void> | undefined;
  private stopping = false;
  /** The last error a write met (writes wait out pauses; a failure is retried with the same write). */
  lastError: string | undefined;

  constructor(private readonly options: SoakWriterOptions) {
    this.random = new SeededRandom(options.seed);
  }

  /** Inserts documents 0…count-1 of every collection at once (before the service starts: its snapshot copies them). */
  async prefill(count: number): Promise<void> {
    for (const coll of this.options.collections) {
      const docs = Array.from({ length: count }, (_, id) => ({ id, seq: this.log.length + id + 1 }));
      await this.options.db.collection<SoakDoc>(coll).insertMany(docs.map(({ id, seq }) => ({ _id: id, n: seq, w: seq, tags: [], kind: 'prefilled' })));
      for (const { id, seq } of docs) {
        this.log.push({ seq, at: Date.now(), coll, id, op: 'insert' });
        this.live.add(`${coll}:${id}`);
      }
    }
  }

  start(): this {
    this.running = this.loop();
    return this;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    const started = Date.now();
    const intervalMs = 1000 / this.options.ratePerSec;
    let tick = 0;
    while (!this.stopping) {
      const due = started + tick * intervalMs;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else tick = Math.max(tick, Math.floor((Date.now() - started) / intervalMs));
      tick++;
      if (this.stopping) break;
      await this.writeOne();
    }
  }

  private async writeOne(): Promise<void> {
    const coll = this.random.pick(this.options.collections);
    const id = this.random.int(0, this.options.idsPerCollection - 1);
    const seq = this.log.length + 1;
    const key = `${coll}:${id}`;
    const collection = this.options.db.collection<SoakDoc>(coll);
    const roll = this.random.next();
    const n = this.random.int(0, 1_000_000);
    let op: WriteOp;
    for (;;) {
      try {
        if (!this.live.has(key)) {
          op = 'insert';
          await collection.insertOne({ _id: id, n, w: seq, tags: [`t${n % 7}`], kind: 'fresh' });
          this.live.add(key);
        } else if (roll < 0.3) {
          op = 'update';
          await collection.updateOne({ _id: id }, { $set: { n, w: seq }, $inc: { edits: 1 } });
        } else if (roll < 0.45) {
          op = 'update';
          await collection.updateOne({ _id: id }, { $set: { n, w: seq }, $push: { tags: `t${n % 7}` } });
        } else if (roll < 0.55) {
          op = 'update';
          await collection.updateOne(
            { _id: id },
            roll < 0.5 ? { $set: { n, w: seq }, $unset: { kind: '' } } : { $set: { n, w: seq, kind: 'touched', 'meta.at': new Date(Date.now()) } },
          );
        } else if (roll < 0.75) {
          op = 'replace';
          await collection.replaceOne({ _id: id }, { n, w: seq, tags: [], kind: 'replaced' });
        } else {
          op = 'delete';
          await collection.deleteOne({ _id: id });
          this.live.delete(key);
        }
        break;
      } catch (error) {
        // An insert that was applied although its reply was lost: it is done.
        if ((error as { code?: unknown }).code === 11000 && !this.live.has(key)) {
          this.live.add(key);
          op = 'insert';
          break;
        }
        // Only a write that surely failed is retried: the client's timeouts are long enough to wait out a pause.
        this.lastError = (error as Error).message;
        if (this.stopping) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    this.log.push({ seq, at: Date.now(), coll, id, op });
  }
}
