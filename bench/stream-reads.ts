/**
 * `npm run bench:stream-reads`: where the source's streaming time and the server's CPU go (issue 20,
 * docs/performance.md "Where the source's streaming time goes"). Not part of `npm run bench`; prints
 * one table per experiment, variants alternated over `--rounds` so a loaded machine hits all alike:
 *   - idle: the MongoDB server's own CPU per second with nothing running (what a slower row is charged);
 *   - empty: getMores on an idle change stream, back to back: server CPU and time per empty read;
 *   - backlog: a change stream read from before a backlog at getMore batch sizes 100…5,000 and unset:
 *     server CPU per 1,000 events and per getMore, events/s;
 *   - writes: the scenario's inserts with nothing reading (the server CPU reading does not add);
 *   - scenario: the bench's scenario row (bench/source.ts) with the source's reads growing from 500
 *     (the default), fixed at 500 and fixed at 1,000, beside the bare watch() loop on it;
 *   - catchup: the bench's catch-up row (a backlog written while the source was stopped) with reads
 *     growing (the default) and fixed, beside the bare watch() catch-up.
 * `--only idle|empty|backlog|writes|scenario|catchup` runs one (or several, comma-separated; idle then also runs last, on a heap that holds the others' data); the other bench flags (--quick, --size) apply.
 */
import { parseArgs } from 'node:util';
import { Long, MongoClient, type Document } from 'mongodb';
import { insertBacklog, type BacklogDoc } from './lib/backlog.js';
import { openBenchContext, parseBenchArgs } from './lib/context.js';
import { serverCpuMeter, threadCpuDelta, threadCpuSeconds } from './lib/server-cpu.js';
import type { BenchContext, BenchFigure } from './lib/stage.js';
import { nowMs } from './lib/timing.js';
import { watchCatchUp } from './limits.js';
import { catchUpFigure, scenarioFigure } from './source.js';
import { scenarioSize, watchScenario } from './watch-scenario.js';

const { values } = parseArgs({ args: process.argv.slice(2), options: { rounds: { type: 'string', default: '3' }, only: { type: 'string' } }, strict: false });
const rounds = Number(values.rounds);
const only = typeof values.only === 'string' ? values.only : undefined;
const benchArgs = process.argv.slice(2).filter((a, i, all) => a !== '--rounds' && all[i - 1] !== '--rounds' && a !== '--only' && all[i - 1] !== '--only');
const log = (line: string): void => void process.stderr.write(`[reads] ${line}\n`);

interface Sample {
  variant: string;
  values: Record<string, number>;
}

/** One line per variant: the median of each value over the rounds, and its range. */
function printTable(title: string, samples: readonly Sample[]): void {
  console.log(`\n### ${title}\n`);
  const variants = [...new Set(samples.map((s) => s.variant))];
  const keys = [...new Set(samples.flatMap((s) => Object.keys(s.values)))];
  console.log(`| variant | ${keys.join(' | ')} |`);
  console.log(`| --- | ${keys.map(() => '---:').join(' | ')} |`);
  for (const variant of variants) {
    const cells = keys.map((key) => {
      const xs = samples
        .filter((s) => s.variant === variant)
        .map((s) => s.values[key])
        .filter((x): x is number => x !== undefined)
        .sort((a, b) => a - b);
      if (xs.length === 0) return '';
      const median = xs[Math.floor(xs.length / 2)] as number;
      const fmt = (x: number): string => (Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3));
      return xs.length > 1 ? `${fmt(median)} (${fmt(xs[0] as number)}–${fmt(xs[xs.length - 1] as number)})` : fmt(median);
    });
    console.log(`| ${variant} | ${cells.join(' | ')} |`);
  }
}

function requirePid(ctx: BenchContext): number {
  if (ctx.mongodbPid === undefined) throw new Error('stream-reads measures the server it starts: unset MONGODB_URI');
  return ctx.mongodbPid;
}

async function idle(ctx: BenchContext): Promise<Sample[]> {
  requirePid(ctx);
  const out: Sample[] = [];
  // Successive windows, so a collection still running after the previous experiment shows as a decay.
  for (let r = 0; r < rounds; r++) {
    const threads = threadCpuSeconds(requirePid(ctx));
    const cpu = serverCpuMeter(ctx.mongodbPid);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    out.push({
      variant: `nothing running, window ${r + 1} of 3 s`,
      values: { 'server CPU s per s': (cpu.seconds() ?? 0) / 3, ...shares(threadCpuDelta(threads, threadCpuSeconds(requirePid(ctx)))) },
    });
  }
  return out;
}

/** A change stream by the server's commands, as raw-change-stream.ts reads it; `batchSize` undefined leaves it unset. */
class RawReader {
  private id: Long | null = null;
  private coll = '';
  getMores = 0;

  constructor(
    private readonly client: MongoClient,
    private readonly db: string,
    private readonly collection: string,
    private readonly batchSize: number | undefined,
  ) {}

  async open(start: Document): Promise<number> {
    const reply = await this.command(
      {
        aggregate: this.collection,
        pipeline: [{ $changeStream: { ...start, fullDocument: 'updateLookup' } }],
        cursor: this.batchSize === undefined ? {} : { batchSize: this.batchSize },
      },
      'firstBatch',
    );
    this.coll = reply.cursor.ns?.slice(reply.cursor.ns.indexOf('.') + 1) ?? this.collection;
    return this.take(reply, 'firstBatch');
  }

  async next(): Promise<number> {
    if (this.id === null) throw new Error('not open');
    this.getMores += 1;
    const reply = await this.command(
      { getMore: this.id, collection: this.coll, maxTimeMS: 100, ...(this.batchSize === undefined ? {} : { batchSize: this.batchSize }) },
      'nextBatch',
    );
    return this.take(reply, 'nextBatch');
  }

  async close(): Promise<void> {
    if (this.id)
      await this.client
        .db(this.db)
        .command({ killCursors: this.coll, cursors: [this.id] })
        .catch(() => undefined);
  }

  private take(reply: { cursor: { id: Long | number; firstBatch?: unknown[]; nextBatch?: unknown[] } }, field: 'firstBatch' | 'nextBatch'): number {
    this.id = Long.isLong(reply.cursor.id) ? reply.cursor.id : Long.fromNumber(reply.cursor.id);
    return reply.cursor[field]?.length ?? 0;
  }

  private async command(
    command: Document,
    field: 'firstBatch' | 'nextBatch',
  ): Promise<{ cursor: { id: Long | number; ns?: string; firstBatch?: unknown[]; nextBatch?: unknown[] } }> {
    return (await this.client.db(this.db).command(command, { promoteLongs: false, fieldsAsRaw: { [field]: true } })) as {
      cursor: { id: Long | number; ns?: string };
    };
  }
}

/** A resume token just after a marker written now (a plain watch() opened before it; its event's _id). */
async function tokenAfterMarker(client: MongoClient, db: string, coll: string): Promise<Document> {
  const watch = client.db(db).collection(coll).watch([]);
  try {
    await watch.tryNext();
    await client.db(db).collection<BacklogDoc>(coll).insertOne({ _id: -1, t: Date.now(), pad: '' });
    for (let i = 0; i < 200; i++) {
      const change = await watch.tryNext();
      if (change) return change._id as Document;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the marker event did not arrive');
  } finally {
    await watch.close();
  }
}

async function empty(ctx: BenchContext): Promise<Sample[]> {
  requirePid(ctx);
  const client = new MongoClient(ctx.mongodb);
  await client.connect();
  const db = `reads_empty_${Date.now().toString(36)}`;
  const out: Sample[] = [];
  try {
    const resumeAfter = await tokenAfterMarker(client, db, 'docs');
    for (let r = 0; r < rounds; r++) {
      const reader = new RawReader(client, db, 'docs', 500);
      await reader.open({ resumeAfter });
      const n = ctx.quick ? 500 : 3_000;
      const cpu = serverCpuMeter(ctx.mongodbPid);
      const started = nowMs();
      for (let i = 0; i < n; i++) await reader.next();
      const ms = nowMs() - started;
      out.push({
        variant: 'empty getMore (batchSize 500)',
        values: { 'server CPU µs per getMore': ((cpu.seconds() ?? 0) * 1e6) / n, 'ms per getMore': ms / n, 'getMores/s': (n * 1000) / ms },
      });
      await reader.close();
    }
  } finally {
    await client
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  }
  return out;
}

async function backlog(ctx: BenchContext): Promise<Sample[]> {
  requirePid(ctx);
  const client = new MongoClient(ctx.mongodb);
  await client.connect();
  const db = `reads_backlog_${Date.now().toString(36)}`;
  const out: Sample[] = [];
  try {
    const resumeAfter = await tokenAfterMarker(client, db, 'docs');
    const count = ctx.quick ? 10_000 : 50_000;
    await insertBacklog(client.db(db).collection<BacklogDoc>('docs'), count, ctx);
    const sizes: (number | undefined)[] = [100, 500, 1_000, 5_000, undefined];
    for (let r = 0; r < rounds; r++) {
      for (const size of sizes) {
        const reader = new RawReader(client, db, 'docs', size);
        const cpu = serverCpuMeter(ctx.mongodbPid);
        const started = nowMs();
        let read = await reader.open({ resumeAfter });
        while (read < count) read += await reader.next();
        const ms = nowMs() - started;
        const seconds = cpu.seconds() ?? 0;
        out.push({
          variant: `getMore batchSize ${size ?? 'unset'}`,
          values: {
            'events/s': (read * 1000) / ms,
            'server CPU s per 1k events': (seconds * 1000) / read,
            getMores: reader.getMores,
            'server CPU ms per getMore': reader.getMores ? (seconds * 1000) / reader.getMores : 0,
          },
        });
        await reader.close();
      }
    }
  } finally {
    await client
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  }
  return out;
}

/** The scenario's writes with no reader: the part of the scenario's server CPU that reading does not add. */
async function writes(ctx: BenchContext): Promise<Sample[]> {
  requirePid(ctx);
  const client = new MongoClient(ctx.mongodb);
  await client.connect();
  const out: Sample[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const db = `reads_writes_${Date.now().toString(36)}_${r}`;
      const count = scenarioSize(ctx);
      const cpu = serverCpuMeter(ctx.mongodbPid);
      const seconds = await insertBacklog(client.db(db).collection<BacklogDoc>('docs'), count, ctx);
      out.push({
        variant: `${count} inserts in batches of 1,000, nothing reading`,
        values: { 'inserts/s': count / seconds, 'server CPU s per 1k events': ((cpu.seconds() ?? 0) * 1000) / count },
      });
      await client
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    }
  } finally {
    await client.close();
  }
  return out;
}

/** "123 reads (45 empty)" → numbers, from a scenario row's note. */
function readsOf(figure: BenchFigure): Record<string, number> {
  const m = /([\d,]+) reads \(([\d,]+) empty\)/.exec(figure.note ?? '');
  if (!m) return {};
  const n = (s: string | undefined): number => Number((s ?? '0').replace(/,/g, ''));
  return { reads: n(m[1]), 'empty reads': n(m[2]) };
}

/** The server's CPU by thread kind over a variant (its set-up included), as shares of the whole. */
function shares(delta: ReadonlyMap<string, number>): Record<string, number> {
  const total = [...delta.values()].reduce((a, b) => a + b, 0);
  const of = (test: (name: string) => boolean): number => [...delta].filter(([name]) => test(name)).reduce((sum, [, s]) => sum + s, 0) / (total || 1);
  return {
    '% requests (mongo-server-worker)': 100 * of((n) => n.startsWith('mongo-server')),
    '% GC (ZGC threads)': 100 * of((n) => n.startsWith('Z')),
    '% JIT': 100 * of((n) => n.includes('Compiler')),
  };
}

async function scenario(ctx: BenchContext): Promise<Sample[]> {
  const out: Sample[] = [];
  const variants: { name: string; run: () => Promise<BenchFigure> }[] = [
    { name: 'bare watch() loop', run: () => watchScenario.run(ctx) },
    { name: 'source batchSize 500, reads 500 → 2,000 (default)', run: () => scenarioFigure(ctx) },
    { name: 'source batchSize 500, reads fixed', run: () => scenarioFigure(ctx, { maxBatchSize: 500 }) },
    { name: 'source batchSize 1,000, reads fixed', run: () => scenarioFigure(ctx, { batchSize: 1_000, maxBatchSize: 1_000 }) },
  ];
  for (let r = 0; r < rounds; r++) {
    for (const variant of variants) {
      log(`scenario round ${r + 1}: ${variant.name}`);
      const threads = ctx.mongodbPid === undefined ? undefined : threadCpuSeconds(ctx.mongodbPid);
      const figure = await variant.run();
      out.push({
        variant: variant.name,
        values: {
          'events/s': figure.eventsPerSec,
          'server CPU s per 1k events': figure.serverCpuSecPer1k ?? NaN,
          ...readsOf(figure),
          ...(threads && ctx.mongodbPid !== undefined ? shares(threadCpuDelta(threads, threadCpuSeconds(ctx.mongodbPid))) : {}),
        },
      });
    }
  }
  return out;
}

async function catchup(ctx: BenchContext): Promise<Sample[]> {
  const out: Sample[] = [];
  const variants: { name: string; run: () => Promise<BenchFigure> }[] = [
    { name: 'bare watch() catch-up', run: () => watchCatchUp.run(ctx) },
    { name: 'source batchSize 500, reads 500 → 2,000 (default)', run: () => catchUpFigure(ctx) },
    { name: 'source batchSize 500, reads fixed', run: () => catchUpFigure(ctx, { maxBatchSize: 500 }) },
  ];
  for (let r = 0; r < rounds; r++) {
    for (const variant of variants) {
      log(`catch-up round ${r + 1}: ${variant.name}`);
      const figure = await variant.run();
      out.push({
        variant: variant.name,
        values: { 'events/s': figure.eventsPerSec, 'server CPU s per 1k events': figure.serverCpuSecPer1k ?? NaN, ...readsOf(figure) },
      });
    }
  }
  return out;
}

const experiments: [string, string, (ctx: BenchContext) => Promise<Sample[]>][] = [
  ['idle', 'The server with nothing running', idle],
  ['empty', 'Empty getMores, back to back', empty],
  ['backlog', 'A backlog read at several getMore batch sizes (nothing writing)', backlog],
  ['writes', "The scenario's writes alone (nothing reading)", writes],
  ['scenario', 'The scenario: inserts in batches of 1,000 while the reader streams', scenario],
  ['catchup', 'Catch-up: a backlog written while the reader was stopped', catchup],
  ['idle', 'The server with nothing running, after the other experiments (its heap now holds their data)', idle],
];

const opened = await openBenchContext(parseBenchArgs(benchArgs), log);
try {
  for (const [key, title, run] of experiments) {
    if (only ? !only.split(',').includes(key) : key === 'idle' && title.includes('after')) continue;
    log(`▶ ${title}`);
    printTable(title, await run(opened.ctx));
  }
} finally {
  await opened.close();
}
