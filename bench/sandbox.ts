/**
 * Throughput of the function sandbox on ~1 KiB change events (not a test). Build, then run:
 *   npm run build && node dist/bench/sandbox.js
 */
import { FunctionPool } from '../processors/sandbox/pool.js';
import { FunctionSandbox, type MarshalMode } from '../processors/sandbox/sandbox.js';

const BATCH = 1000;
const CODE = `export default function handle(events, ctx) {
  return events.map((e) => ({ sink: 'cache', op: 'set', key: 'user:' + e.documentKey._id.$oid, value: e.fullDocument }));
}`;

function plainHandle(events: readonly ChangeEvent[]): unknown[] {
  return events.map((e) => ({ sink: 'cache', op: 'set', key: 'user:' + e.documentKey._id.$oid, value: e.fullDocument }));
}

interface ChangeEvent {
  documentKey: { _id: { $oid: string } };
  fullDocument: unknown;
}

function makeEvent(i: number): ChangeEvent {
  const id = { $oid: i.toString(16).padStart(24, '0') };
  const doc = {
    _id: id,
    name: `user${i}`,
    email: `user${i}@example.com`,
    age: i % 90,
    score: i * 1.25,
    active: i % 2 === 0,
    tags: ['alpha', 'beta', 'gamma'],
    address: { street: `${i} Long Street Name Avenue`, city: 'Springfield', zip: '12345', country: 'US' },
    bio: 'lorem ipsum dolor sit amet '.repeat(15),
    updatedAt: { $date: '2024-01-01T00:00:00Z' },
  };
  return {
    _id: { _data: '8265A3F1C2000000012B022C0100296E5A1004' + i.toString(16).padStart(8, '0') },
    operationType: 'update',
    clusterTime: { $timestamp: { t: 1705000000, i } },
    ns: { db: 'app', coll: 'users' },
    documentKey: { _id: id },
    fullDocument: doc,
  } as ChangeEvent;
}

function measure(label: string, eventsPerIteration: number, iterations: number, fn: () => void): void {
  for (let i = 0; i < Math.max(2, iterations / 10); i++) fn();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  const us = ((performance.now() - start) * 1000) / (iterations * eventsPerIteration);
  console.log(`${label.padEnd(44)} ${us.toFixed(2).padStart(7)} µs/event`);
}

/** Wall and CPU (all threads) µs per event of `inFlight` concurrent loops of `fn`. */
async function measureAsync(label: string, eventsPerCall: number, calls: number, inFlight: number, fn: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: inFlight }, fn));
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let i = 0; i < calls / inFlight; i++) await fn();
    }),
  );
  const used = process.cpuUsage(cpu);
  const events = calls * eventsPerCall;
  console.log(
    `${label.padEnd(44)} ${(((performance.now() - start) * 1000) / events).toFixed(2).padStart(7)} µs/event, ${((used.user + used.system) / events).toFixed(2)} µs CPU/event`,
  );
}

const events = Array.from({ length: BATCH }, (_, i) => makeEvent(i));
const bytes = Buffer.byteLength(JSON.stringify(events)) / BATCH;
console.log(`events: ${BATCH} per batch, ${bytes.toFixed(0)} bytes each (JSON)`);

for (const marshal of ['binary', 'json'] as MarshalMode[]) {
  const sandbox = new FunctionSandbox({ name: 'bench', code: CODE, marshal });
  const ctx = { trigger: 'bench', now: 1705000000000, sinkNames: ['cache'] };
  measure(`sandbox batched (${marshal}, ${BATCH}/call)`, BATCH, 30, () => void sandbox.runSync(events, ctx));
  measure(`sandbox per-event (${marshal}, 1/call)`, BATCH, 3, () => {
    for (const e of events) sandbox.runSync([e], ctx);
  });
  sandbox.dispose();
}
for (const workers of [1, 2]) {
  const pool = new FunctionPool({ size: workers });
  const fn = pool.function({ tenant: 'bench', name: 'bench', code: CODE });
  const ctx = { trigger: 'bench', now: 1705000000000, sinkNames: ['cache'] };
  await measureAsync(`pool, ${workers} worker(s), batched (${BATCH}/call)`, BATCH, 30, workers, () => fn.run(events, ctx));
  await measureAsync(`pool, ${workers} worker(s), per-event (1/call)`, 1, 2000, workers, () => fn.run([events[0]], ctx));
  await pool.close();
}
measure('plain V8 (same mapping)', BATCH, 300, () => void plainHandle(events));
measure('plain V8 + JSON round trip of the output', BATCH, 100, () => void JSON.parse(JSON.stringify(plainHandle(events))));
