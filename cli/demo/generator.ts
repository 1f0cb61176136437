import { ObjectId, type Collection, type Document } from 'mongodb';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../core/errors.js';
import { counter, type Counter } from '../../core/metrics.js';
import { sleep } from '../../core/retry.js';

export const GENERATOR_METRIC = 'changeflow_demo_writes_total';

export type DemoOp = 'insert' | 'update' | 'delete';

export interface GeneratorOptions {
  /** Writes per second. */
  rate: number;
  /** Stop after this many writes (undefined: until stopped). */
  maxWrites?: number;
  /** Documents kept around: fewer → more inserts, more → more deletes. */
  population?: number;
  /** A deleted document was not written for at least this long (see `pickOp`). */
  quietMs?: number;
  onError?: (message: string) => void;
}

const FIRST = ['Ada', 'Alan', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Dennis', 'Radia', 'Linus'];
const LAST = ['Lovelace', 'Turing', 'Hopper', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Hamilton', 'Ritchie', 'Perlman', 'Torvalds'];
const PLANS = ['free', 'pro', 'team'] as const;
/** Writes awaiting the server at once, so a slow moment of the server does not lower the rate. */
const MAX_IN_FLIGHT = 16;

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

interface LiveDoc {
  id: ObjectId;
  /** When the generator last wrote it (ms). */
  at: number;
  visits: number;
  /** A write of it is in flight: the next one waits, so each document's writes stay in order. */
  busy: boolean;
}

export function demoUser(): Document {
  const first = pick(FIRST);
  const last = pick(LAST);
  return {
    _id: new ObjectId(),
    name: `${first} ${last}`,
    email: `${first}.${last}.${Math.floor(Math.random() * 1000)}@example.com`.toLowerCase(),
    plan: pick(PLANS),
    visits: 0,
    createdAt: new Date(),
    updatedAt: new Date(),
  };
}

/**
 * Writes inserts, updates and deletes to the demo collection at a steady rate and counts them in
 * `changeflow_demo_writes_total{op}` (the live view reads it from the registry like every other stage).
 */
export class DemoGenerator {
  private readonly writes: Counter<'op'>;
  /** Live documents and when the generator last wrote each. */
  private readonly live = new Map<string, LiveDoc>();
  private running: Promise<void> | undefined;
  private stopping = false;
  private count = 0;

  constructor(
    private readonly collection: Collection,
    registry: Registry,
    private readonly options: GeneratorOptions,
  ) {
    this.writes = counter(registry, GENERATOR_METRIC, 'Writes made by the demo generator, by operation', ['op']);
  }

  get written(): number {
    return this.count;
  }

  /** Inserts `initial` documents when the collection has fewer (so the source's snapshot copies something), and learns the live ids. */
  async seed(initial: number): Promise<number> {
    const have = await this.collection.countDocuments();
    if (have < initial) {
      const docs = Array.from({ length: initial - have }, demoUser);
      await this.collection.insertMany(docs);
    }
    for await (const doc of this.collection.find({}, { projection: { _id: 1, visits: 1 } })) {
      if (doc._id instanceof ObjectId)
        this.live.set(doc._id.toHexString(), { id: doc._id, at: 0, visits: typeof doc['visits'] === 'number' ? doc['visits'] : 0, busy: false });
    }
    return Math.max(have, initial);
  }

  start(): void {
    this.stopping = false;
    this.running ??= this.loop().finally(() => (this.running = undefined));
  }

  /** Resolves once the writes in flight finished. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  /** Resolves when `maxWrites` were made (or at once when unbounded). */
  async done(): Promise<void> {
    await this.running;
  }

  private async loop(): Promise<void> {
    const started = performance.now();
    const inFlight = new Set<Promise<void>>();
    let issued = 0;
    let pauseUntil = 0;
    let skipped = 0;
    while (!this.stopping && (this.options.maxWrites === undefined || issued < this.options.maxWrites)) {
      const now = performance.now();
      const due = Math.floor(((now - started) / 1000) * this.options.rate) - skipped;
      // After a stall (a slow server), catch up at most one second's worth instead of bursting.
      const backlog = due - issued - Math.ceil(this.options.rate);
      if (backlog > 0) skipped += backlog;
      if (issued >= due || inFlight.size >= MAX_IN_FLIGHT || now < pauseUntil) {
        await Promise.race([sleep(Math.max(1, Math.min(50, 1000 / this.options.rate))), ...inFlight]);
        continue;
      }
      issued++;
      const write: Promise<void> = this.writeOne()
        .catch((error: unknown) => {
          this.options.onError?.(`demo generator: ${errorMessage(error)}`);
          pauseUntil = performance.now() + 1_000;
        })
        .finally(() => inFlight.delete(write));
      inFlight.add(write);
    }
    await Promise.all(inFlight);
  }

  /**
   * A delete only takes a document not written for `quietMs`: a source with `fullDocument:
   * updateLookup` looks the post-image up when it reads an update, and a document deleted a moment
   * after its update would be gone by then (mongo-java-server then cannot even say which document
   * the update was for).
   */
  private pickOp(now: number): { op: DemoOp; target?: LiveDoc } {
    const population = this.options.population ?? 200;
    const quietMs = this.options.quietMs ?? 2_000;
    const ids = [...this.live.values()].filter((d) => !d.busy);
    const r = Math.random();
    const size = this.live.size;
    const insertShare = size < population / 2 ? 0.7 : size > population * 1.5 ? 0.1 : 0.3;
    const deleteShare = size > population * 1.5 ? 0.4 : size < population / 2 ? 0.05 : 0.15;
    if (ids.length === 0 || r < insertShare) return { op: 'insert' };
    if (r < insertShare + deleteShare) {
      for (let tries = 0; tries < 10; tries++) {
        const target = pick(ids);
        if (now - target.at >= quietMs) return { op: 'delete', target };
      }
    }
    return { op: 'update', target: pick(ids) };
  }

  private async writeOne(): Promise<void> {
    const now = Date.now();
    const { op, target } = this.pickOp(now);
    if (op === 'insert') {
      const doc = demoUser();
      const id = doc['_id'] as ObjectId;
      const live: LiveDoc = { id, at: now, visits: 0, busy: true };
      this.live.set(id.toHexString(), live);
      await this.collection.insertOne(doc).finally(() => (live.busy = false));
    } else if (op === 'update' && target) {
      target.visits++;
      target.at = now;
      target.busy = true;
      await this.collection
        .updateOne({ _id: target.id }, { $set: { visits: target.visits, plan: pick(PLANS), updatedAt: new Date() } })
        .finally(() => (target.busy = false));
    } else if (target) {
      this.live.delete(target.id.toHexString());
      await this.collection.deleteOne({ _id: target.id });
    }
    this.count++;
    this.writes.inc({ op });
  }
}
