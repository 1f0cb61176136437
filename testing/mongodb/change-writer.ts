import { Int32, type Collection } from 'mongodb';
import type { IncomingRecord } from '../../core/kafka/transport.js';
import { parseChangeEvent } from '../../schemas/envelope.js';

export type WriterCollection = Collection<{ _id: Int32; v: Int32 }>;

/**
 * Writes a steady stream of inserts, updates (docs with id % 4 == 0) and deletes (id % 4 == 1) and
 * remembers each as `<canonical key>|<op>`. Updated and deleted sets are disjoint: mongo-java-server
 * finds an update's `_id` only while its document still exists.
 */
export class ChangeWriter {
  readonly expected = new Map<string, number>();
  private running = true;
  private loop: Promise<void> = Promise.resolve();
  next = 0;

  constructor(private readonly coll: WriterCollection) {}

  private note(id: number, op: string): void {
    const key = `${JSON.stringify({ _id: { $numberInt: String(id) } })}|${op}`;
    this.expected.set(key, (this.expected.get(key) ?? 0) + 1);
  }

  start(perRound = 40, pauseMs = 20): this {
    this.loop = (async () => {
      while (this.running) {
        const ids = Array.from({ length: perRound }, () => this.next++);
        await this.coll.insertMany(ids.map((i) => ({ _id: new Int32(i), v: new Int32(0) })));
        ids.forEach((i) => this.note(i, 'insert'));
        for (const i of ids) {
          if (i % 4 === 0) {
            await this.coll.updateOne({ _id: new Int32(i) }, { $set: { v: new Int32(1) } });
            this.note(i, 'update');
          } else if (i % 4 === 1) {
            await this.coll.deleteOne({ _id: new Int32(i) });
            this.note(i, 'delete');
          }
        }
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    })();
    return this;
  }

  get total(): number {
    let n = 0;
    for (const count of this.expected.values()) n += count;
    return n;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Distinct change ids per `<key>|<op>` in what a source produced. */
export function tallyChanges(records: readonly IncomingRecord[]): { distinct: number; seen: Map<string, Set<string>> } {
  const seen = new Map<string, Set<string>>();
  for (const record of records) {
    const event = parseChangeEvent(record.value ?? '');
    const key = `${record.key?.toString() ?? ''}|${event.op}`;
    const ids = seen.get(key) ?? new Set<string>();
    ids.add(event.id);
    seen.set(key, ids);
  }
  let distinct = 0;
  for (const ids of seen.values()) distinct += ids.size;
  return { distinct, seen };
}
