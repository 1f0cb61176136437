import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import wabtInit from 'wabt';
import { exampleModule } from '../../../testing/wasm-modules.js';
import { FunctionError } from '../errors.js';
import { FunctionPool, type PoolFunctionSpec } from '../pool.js';
import { makeChangeEvent } from '../../../testing/processors/events.js';
import { failure, mainThreadStall } from '../../../testing/processors/function-failures.js';

// WebAssembly functions in the FunctionPool, beside JavaScript ones. The workers run the built pool
// (dist/processors/sandbox/pool-worker.js): build first (`npx tsc -p tsconfig.build.json`).

const echo = exampleModule('wat-echo');
const js = 'export default (events) => events.map((value) => ({ sink: "out", op: "set", key: "js", value }))';

function wasm(tenant: string, bytes: Uint8Array, limits: PoolFunctionSpec['limits'] = {}, name = 'fn'): PoolFunctionSpec {
  return { tenant, name, wasm: bytes, limits };
}

describe('FunctionPool with WebAssembly (Extism) functions', () => {
  let pool: FunctionPool;

  beforeAll(async () => {
    pool = new FunctionPool({ size: 2 });
    await Promise.all([pool.run(wasm('warm', echo), [], { trigger: 't' }), pool.run({ tenant: 'warm2', name: 'js', code: js }, [], { trigger: 't' })]);
  });

  afterAll(async () => {
    await pool.close();
  });

  it('runs a plugin and a JavaScript function side by side; plugin logs arrive before the call settles', async () => {
    const logs: string[] = [];
    const event = makeChangeEvent({ db: 'shop', coll: 'a', docId: 1, seq: 1 });
    const [fromWasm, fromJs] = await Promise.all([
      pool.run({ ...wasm('a', echo), onLog: (e) => logs.push(`${e.level}: ${e.message}`) }, [event], { trigger: 't', sinkNames: ['out'] }),
      pool.run({ tenant: 'b', name: 'js', code: js }, [event], { trigger: 't', sinkNames: ['out'] }),
    ]);
    expect(fromWasm).toEqual([{ sink: 'out', op: 'set', key: 'wat', value: [event] }]);
    expect(fromJs).toEqual([{ sink: 'out', op: 'set', key: 'js', value: event }]);
    expect(logs).toEqual(['info: echo']);
  });

  it('stops a spinning plugin within 2x its time limit, replaces its worker, and the main thread keeps answering', async () => {
    const started = performance.now();
    const { result, worstMs } = await mainThreadStall(pool.run(wasm('a', exampleModule('hostile-spin'), { cpuTimeMs: 500 }), [], { trigger: 't' }));
    const elapsed = performance.now() - started;
    console.log(`wasm spin at 500 ms: failed after ${elapsed.toFixed(0)} ms; main thread stalled at most ${worstMs.toFixed(0)} ms`);
    expect(result).toBeInstanceOf(FunctionError);
    expect((result as FunctionError).kind).toBe('timeout');
    expect((result as FunctionError).message).toMatch(/exceeded the CPU time limit of 500 ms \(its worker was stopped after \d+ ms\)/);
    expect(elapsed).toBeLessThan(1_000);
    expect(worstMs).toBeLessThan(250);
    expect(await pool.run(wasm('a', echo), [], { trigger: 't' })).toEqual([{ sink: 'out', op: 'set', key: 'wat', value: [] }]);
  });

  it('the memory-growth plugin fails with a memory error at its cap; its worker is replaced and RSS comes back', async () => {
    const before = process.memoryUsage().rss;
    const replacedBefore = pool.stats().workersReplaced;
    const error = await failure(pool.run(wasm('a', exampleModule('hostile-grow'), { memoryLimitBytes: 64 * 1048576 }), [], { trigger: 't' }));
    expect(error.kind).toBe('memory');
    expect(error.message).toMatch(/out of memory: trapped .* of its 64 MiB limit/);
    await pool.run(wasm('a', echo), [], { trigger: 't' });
    await pool.run(wasm('b', echo), [], { trigger: 't' });
    expect(pool.stats().workersReplaced).toBe(replacedBefore + 1);
    let after = process.memoryUsage().rss;
    for (let i = 0; i < 100 && after > before + 40 * 1048576; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = process.memoryUsage().rss;
    }
    console.log(`wasm memory growth (64 MiB cap): RSS ${(before / 1048576).toFixed(0)} MiB before, ${(after / 1048576).toFixed(0)} MiB after`);
    expect(after - before).toBeLessThan(40 * 1048576);
  });

  it('traps and oversized output are that call’s function error, as for JavaScript', async () => {
    const trap = await failure(pool.run(wasm('a', exampleModule('hostile-unreachable')), [], { trigger: 't' }));
    expect(trap).toMatchObject({ kind: 'runtime', retriable: false });
    expect(trap.message).toContain('trapped: RuntimeError: unreachable');
    const huge = await failure(pool.run(wasm('a', exampleModule('hostile-huge-output')), [], { trigger: 't' }));
    expect(huge.kind).toBe('output');
    const wrongSink = await failure(pool.run(wasm('a', echo), [], { trigger: 't', sinkNames: ['other'] }));
    expect(wrongSink.kind).toBe('invalid-actions');
  });

  it('never shares a cached instance (and its module-level state) between tenants running the same code', async () => {
    const single = new FunctionPool({ size: 1 });
    try {
      const counter = 'let n = 0; export default () => [{ sink: "out", op: "count", value: ++n }]';
      const call = async (tenant: string): Promise<unknown> => (await single.run({ tenant, name: 'counter', code: counter }, [], { trigger: 't' }))[0]?.value;
      expect([await call('alice'), await call('alice'), await call('bob'), await call('alice')]).toEqual([1, 2, 1, 3]);
    } finally {
      await single.close();
    }
  });

  it('checks a module in a worker: refused bytes, a missing handle, and a good module', async () => {
    expect(await pool.check(wasm('a', echo))).toEqual({ ok: true });
    expect(await pool.check(wasm('a', new TextEncoder().encode('export default () => []')))).toMatchObject({ ok: false, phase: 'compile' });
    // A module without exports: the 8-byte header alone.
    expect(await pool.check(wasm('a', new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])))).toMatchObject({
      ok: false,
      phase: 'export',
      message: expect.stringContaining('exports no function "handle"'),
    });
  });

  it('a module whose start function spins fails its check by the time limit, without blocking this thread', async () => {
    const wabt = await wabtInit();
    const module = wabt.parseWat(
      'start.wat',
      '(module (memory 1) (func $spin (loop $l (br $l))) (start $spin) (func (export "handle") (result i32) (i32.const 0)))',
    );
    const bytes = module.toBinary({}).buffer;
    module.destroy();
    const { result, worstMs } = await mainThreadStall(pool.check(wasm('a', bytes, { cpuTimeMs: 300 })));
    expect(result).toMatchObject({ ok: false, phase: 'evaluate', message: expect.stringContaining('exceeded the CPU time limit of 300 ms') });
    expect(worstMs).toBeLessThan(250);
  });
});
