/**
 * WebAssembly function rows of `npm run bench` (alone: `npm run bench:wasm`): the trivial function of
 * bench/processor.ts (one `set` per ~1 KiB change event) as an Extism plugin built from AssemblyScript
 * (examples/wasm/assembly/bench-trivial.ts), beside the same logic in QuickJS, batched, in this thread
 * and in the function pool. No Kafka: the CPU each runtime spends per event.
 */
import { FunctionPool, FunctionSandbox, resolveLimits } from '../processors/sandbox/index.js';
import { WasmFunction } from '../processors/sandbox/wasm/plugin-host.js';
import { exampleModule } from '../testing/wasm-modules.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import { parseChangeEvent, type ChangeEvent } from '../schemas/envelope.js';
import { LIMIT } from './limits.js';
import { runIfMain } from './lib/runner.js';
import type { BenchContext, BenchFigure, BenchStage } from './lib/stage.js';
import { nowMs } from './lib/timing.js';

/** Events per call, as the sandbox rows of bench/processor.ts (the default trigger batch is 500). */
const BATCH = 500;
/** bench/processor.ts's TRIVIAL, the JavaScript twin of bench-trivial.wasm. */
const TRIVIAL = `export default function handle(events) {
  return events.map((e) => ({ sink: 'out', op: 'set', key: 'doc:' + e.documentKey._id.$numberInt, value: e.fullDocument }));
}`;
const RUN_CTX = { trigger: 'bench', now: Date.now(), sinkNames: ['out'] };

function sample(ctx: BenchContext): ChangeEvent[] {
  const base = Buffer.byteLength(JSON.stringify(makeChangeEvent({ db: 'shop', coll: 'orders', docId: 0, seq: 0 })));
  const pad = Math.max(0, ctx.messageBytes - base - 9);
  return Array.from({ length: BATCH }, (_, seq) =>
    parseChangeEvent(JSON.stringify(makeChangeEvent({ db: 'shop', coll: 'orders', docId: seq, seq, padBytes: pad }))),
  );
}

/** Repeats `call` (BATCH events each) for the figure's duration; the note carries µs of CPU (all threads) per event. */
async function forDuration(ctx: BenchContext, call: () => Promise<unknown> | unknown, note: string): Promise<BenchFigure> {
  for (let i = 0; i < 3; i++) await call();
  const cpu = process.cpuUsage();
  const started = nowMs();
  let events = 0;
  while (nowMs() - started < ctx.durationMs) {
    await call();
    events += BATCH;
  }
  const seconds = (nowMs() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const eventsPerSec = seconds > 0 ? events / seconds : 0;
  const cpuUs = events > 0 ? ((used.user + used.system) / events).toFixed(1) : '-';
  return { eventsPerSec, mbPerSec: (eventsPerSec * ctx.messageBytes) / 1048576, events, seconds, note: `${note}; ${cpuUs} µs CPU/event` };
}

function row(name: string, run: (ctx: BenchContext, events: ChangeEvent[]) => Promise<BenchFigure>): BenchStage {
  return { name, kind: 'changeflow', limitName: (ctx) => LIMIT.consume(ctx.client), run: (ctx) => run(ctx, sample(ctx)) };
}

export const stages: BenchStage[] = [
  row('functions: trivial, QuickJS in this thread, batched', async (ctx, events) => {
    const sandbox = new FunctionSandbox({ name: 'bench', code: TRIVIAL });
    try {
      return await forDuration(ctx, () => sandbox.runSync(events, RUN_CTX), `${BATCH} events per call (${sandbox.marshal}), no Kafka`);
    } finally {
      sandbox.dispose();
    }
  }),
  row('functions: trivial, WASM (Extism, AssemblyScript) in this thread, batched', async (ctx, events) => {
    const fn = await WasmFunction.load({ name: 'bench', bytes: exampleModule('bench-trivial'), limits: resolveLimits({ memoryLimitBytes: 64 * 1048576 }) });
    try {
      return await forDuration(ctx, () => fn.run(events, RUN_CTX), `${BATCH} events per call, JSON in and out, no Kafka`);
    } finally {
      await fn.dispose();
    }
  }),
  ...(['javascript', 'wasm'] as const).map((kind) =>
    row(`functions: trivial, ${kind === 'wasm' ? 'WASM' : 'QuickJS'} in the function pool (1 worker), batched`, async (ctx, events) => {
      const pool = new FunctionPool({ size: 1 });
      const limits = { memoryLimitBytes: 64 * 1048576, cpuTimeMs: 5_000 };
      const fn = pool.function(
        kind === 'wasm'
          ? { tenant: 'bench', name: 'bench', wasm: exampleModule('bench-trivial'), limits }
          : { tenant: 'bench', name: 'bench', code: TRIVIAL, limits },
      );
      try {
        return await forDuration(ctx, () => fn.run(events, RUN_CTX), `${BATCH} events per call, copied to the worker and back, no Kafka`);
      } finally {
        await pool.close();
      }
    }),
  ),
];

await runIfMain(import.meta.url, stages);
