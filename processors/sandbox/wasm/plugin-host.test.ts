import { describe, expect, it } from '@jest/globals';
import { WasmFunction } from './plugin-host.js';
import { exampleModule, type ExampleModule } from '../../../testing/wasm-modules.js';
import { resolveLimits, type SandboxLimits } from '../limits.js';
import type { FunctionLogEntry } from '../sandbox.js';
import { makeChangeEvent } from '../../../testing/processors/events.js';
import { failure } from '../../../testing/processors/function-failures.js';

const ctx = { trigger: 'orders-sync', sinkNames: ['out'], now: 1_700_000_000_000 };

async function load(name: ExampleModule, limits: Partial<SandboxLimits> = {}, logs: FunctionLogEntry[] = []): Promise<WasmFunction> {
  return WasmFunction.load({ name, bytes: exampleModule(name), limits: resolveLimits(limits), onLog: (e) => logs.push(e) });
}

describe('WasmFunction (Extism plugins in this thread)', () => {
  it('the hand-written WAT module gets the batch as JSON and its output is the actions; its log comes back', async () => {
    const logs: FunctionLogEntry[] = [];
    const fn = await load('wat-echo', {}, logs);
    const events = [makeChangeEvent({ db: 'shop', coll: 'orders', docId: 1, seq: 1, fields: { note: 'héllo ✓' } })];
    const actions = await fn.run(events, ctx);
    expect(actions).toEqual([{ sink: 'out', op: 'set', key: 'wat', value: JSON.parse(JSON.stringify(events)) }]);
    expect(logs).toEqual([{ functionName: 'wat-echo', level: 'info', message: 'echo' }]);
    // Called again on the same instance (the host's blocks are reset between calls).
    expect(await fn.run([], ctx)).toEqual([{ sink: 'out', op: 'set', key: 'wat', value: [] }]);
  });

  it('passthrough: upsert per written document, delete per deleted one, in the first sink', async () => {
    const fn = await load('passthrough');
    const insert = makeChangeEvent({ db: 'shop', coll: 'a', docId: 7, seq: 1 });
    const del = makeChangeEvent({ db: 'shop', coll: 'a', docId: 8, seq: 2, op: 'delete' });
    expect(await fn.run([insert, del], ctx)).toEqual([
      { sink: 'out', op: 'upsert', doc: insert.fullDocument },
      { sink: 'out', op: 'delete', filter: del.documentKey },
    ]);
  });

  it('filter-enrich keeps paid orders and adds the trigger name from the plugin config', async () => {
    const fn = await load('filter-enrich');
    const paid = makeChangeEvent({ db: 'shop', coll: 'a', docId: 1, seq: 1, fields: { status: 'paid', total: 1500 } });
    const open = makeChangeEvent({ db: 'shop', coll: 'a', docId: 2, seq: 2, fields: { status: 'open', total: 5 } });
    const [action, ...rest] = await fn.run([paid, open], ctx);
    expect(rest).toEqual([]);
    expect(action).toEqual({ sink: 'out', op: 'upsert', doc: { paidVia: 'orders-sync', flagged: true, ...paid.fullDocument } });
  });

  it('redis-cache: set <coll>:<id> to the document, del on delete, and logs a count', async () => {
    const logs: FunctionLogEntry[] = [];
    const fn = await load('redis-cache', {}, logs);
    const insert = makeChangeEvent({ db: 'shop', coll: 'orders', docId: 7, seq: 1 });
    const del = makeChangeEvent({ db: 'shop', coll: 'orders', docId: 'x"y', seq: 2, op: 'delete' });
    expect(await fn.run([insert, del], { trigger: 't', sinkNames: ['cache'] })).toEqual([
      { sink: 'cache', op: 'set', key: 'orders:7', value: insert.fullDocument },
      { sink: 'cache', op: 'del', key: 'orders:x\\"y' },
    ]);
    expect(logs.map((l) => l.message)).toEqual(['cached 2 of 2 events']);
  });

  it('actions are validated as a JavaScript function result is: an unknown sink is an invalid-actions error', async () => {
    const fn = await load('wat-echo');
    const error = await failure(fn.run([], { trigger: 't', sinkNames: ['b'], now: 1 }));
    expect(error.kind).toBe('invalid-actions');
    expect(error.message).toMatch(/actions\[0\]\.sink: unknown sink "out"; this trigger has sinks: b/);
  });

  it('unreachable: a runtime error naming the trap; the next call works on a fresh instance', async () => {
    const fn = await load('hostile-unreachable');
    const error = await failure(fn.run([], ctx));
    expect(error.kind).toBe('runtime');
    expect(error.message).toMatch(
      /function "hostile-unreachable" runtime error: trapped: RuntimeError: unreachable \(linear memory 0\.\d of its 32 MiB limit\)/,
    );
    expect(error.retriable).toBe(false);
    expect((await failure(fn.run([], ctx))).message).toBe(error.message);
  });

  it('memory growth stops at memoryLimitBytes: a memory error naming how much it held', async () => {
    const fn = await load('hostile-grow', { memoryLimitBytes: 16 * 1024 * 1024 });
    const error = await failure(fn.run([], ctx));
    expect(error.kind).toBe('memory');
    expect(error.message).toMatch(/out of memory: trapped \(RuntimeError: unreachable\) with linear memory 1\d\.\d of its 16 MiB limit/);
  });

  it('a huge output is an output error', async () => {
    const error = await failure((await load('hostile-huge-output')).run([], ctx));
    expect(error.kind).toBe('output');
    expect(error.message).toMatch(/output of 16777216 bytes exceeds the limit of 8388608 bytes/);
  });

  it('host memory the plugin allocates counts against its memory limit', async () => {
    const error = await failure((await load('hostile-huge-output', { memoryLimitBytes: 8 * 1024 * 1024 })).run([], ctx));
    expect(error.kind).toBe('memory');
    expect(error.message).toMatch(/host memory it allocated .* exceeds its memory limit of 8 MiB/);
  });
});
