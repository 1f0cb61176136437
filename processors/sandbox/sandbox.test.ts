import { describe, expect, it, afterEach } from '@jest/globals';
import { FunctionError } from './errors.js';
import { FunctionSandbox, type FunctionLogEntry, type MarshalMode, type SandboxOptions } from './sandbox.js';

const open: FunctionSandbox[] = [];
function sandbox(code: string, extra: Partial<SandboxOptions> = {}): FunctionSandbox {
  const sb = new FunctionSandbox({ name: 'fn', code, ...extra });
  open.push(sb);
  return sb;
}
afterEach(() => {
  for (const sb of open.splice(0)) sb.dispose();
});

async function failure(p: Promise<unknown>): Promise<FunctionError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(FunctionError);
    return error as FunctionError;
  }
  throw new Error('expected the call to fail');
}

const MAPPER = `export default function handle(events, ctx) {
  return events.map((e) => ({ sink: 'cache', op: 'set', key: 'user:' + e.documentKey._id, value: e.fullDocument, ttlSeconds: 60 }));
}`;

function event(i: number): Record<string, unknown> {
  return {
    operationType: 'update',
    documentKey: { _id: `id${i}` },
    fullDocument: {
      _id: `id${i}`,
      n: i,
      f: i + 0.5,
      neg: -i - 1,
      name: `näme ${i} €`,
      tags: ['a', null, true],
      nested: { deep: { x: [i, { y: 'z' }] } },
      empty: {},
    },
  };
}

describe.each<MarshalMode>(['binary', 'json'])('FunctionSandbox (%s marshalling)', (marshal) => {
  it('maps 1,000 events to the exact expected actions, in order', async () => {
    const sb = sandbox(MAPPER, { marshal });
    const events = Array.from({ length: 1000 }, (_, i) => event(i));
    const actions = await sb.run(events, { trigger: 'users', sinkNames: ['cache'] });
    expect(actions).toEqual(
      events.map((e) => ({ sink: 'cache', op: 'set', key: `user:${(e.documentKey as { _id: string })._id}`, value: e.fullDocument, ttlSeconds: 60 })),
    );
    expect(sb.marshal).toBe(marshal);
  });

  it('reuses the context across calls', async () => {
    const sb = sandbox(`let calls = 0; export default (events) => [{ sink: 's', op: 'count', value: ++calls }]`, { marshal });
    await sb.run([], { trigger: 't' });
    expect(await sb.run([], { trigger: 't' })).toEqual([{ sink: 's', op: 'count', value: 2 }]);
  });
});

describe('FunctionSandbox contract', () => {
  it('accepts arrow default exports and plain `function handle` declarations', async () => {
    const arrow = sandbox(`export default (events, ctx) => events.map((e) => ({ sink: 'a', op: ctx.trigger, value: e.v }))`);
    expect(await arrow.run([{ v: 1 }], { trigger: 'trg' })).toEqual([{ sink: 'a', op: 'trg', value: 1 }]);
    const plain = sandbox(`function helper(e) { return { sink: 'a', op: 'x', key: String(e.v) }; }\nfunction handle(events) { return events.map(helper); }`);
    expect(await plain.run([{ v: 7 }], { trigger: 't' })).toEqual([{ sink: 'a', op: 'x', key: '7' }]);
  });

  it('puts ctx.emit actions before returned ones; returning nothing is allowed', async () => {
    const sb = sandbox(`export default function (events, ctx) {
      ctx.emit({ sink: 'audit', op: 'append', value: 'first' });
      if (events.length === 0) return;
      ctx.emit({ sink: 'audit', op: 'append', value: 'second' });
      return [{ sink: 'cache', op: 'del', key: 'k' }];
    }`);
    expect(await sb.run([1], { trigger: 't' })).toEqual([
      { sink: 'audit', op: 'append', value: 'first' },
      { sink: 'audit', op: 'append', value: 'second' },
      { sink: 'cache', op: 'del', key: 'k' },
    ]);
    expect(await sb.run([], { trigger: 't' })).toEqual([{ sink: 'audit', op: 'append', value: 'first' }]);
  });

  it('supports async handlers', async () => {
    const sb = sandbox(`export default async function (events, ctx) { await null; ctx.emit({ sink: 'a', op: 'e' }); return [{ sink: 'a', op: 'r' }]; }`);
    expect(await sb.run([], { trigger: 't' })).toEqual([
      { sink: 'a', op: 'e' },
      { sink: 'a', op: 'r' },
    ]);
    const rejecting = sandbox(`export default async function () { await null; throw new TypeError('nope'); }`);
    const err = await failure(rejecting.run([], { trigger: 't' }));
    expect(err.kind).toBe('runtime');
    expect(err.message).toContain('TypeError: nope');
  });

  it('sends console and ctx.log output to the host, capped per call', async () => {
    const logs: FunctionLogEntry[] = [];
    const sb = sandbox(
      `export default function (events, ctx) {
        console.log('count', events.length, { a: 1 });
        console.warn('careful');
        ctx.log('via ctx');
        if (events.length > 1) for (let i = 0; i < 1000; i++) console.error('x'.repeat(100));
        return [];
      }`,
      { limits: { maxLogBytes: 1000 }, onLog: (entry) => logs.push(entry) },
    );
    await sb.run([1], { trigger: 't' });
    expect(logs).toEqual([
      { functionName: 'fn', level: 'info', message: 'count 1 {"a":1}' },
      { functionName: 'fn', level: 'warn', message: 'careful' },
      { functionName: 'fn', level: 'info', message: 'via ctx' },
    ]);
    logs.length = 0;
    await sb.run([1, 2], { trigger: 't' });
    const total = logs.reduce((n, l) => n + Buffer.byteLength(l.message), 0);
    expect(logs.length).toBeLessThan(15);
    expect(total).toBeLessThan(1200);
    expect(logs.at(-1)?.message).toMatch(/log truncated: over 1000 bytes/);
    // The cap is per call: the next call logs again.
    logs.length = 0;
    await sb.run([1], { trigger: 't' });
    expect(logs.map((l) => l.message)).toEqual(['count 1 {"a":1}', 'careful', 'via ctx']);
  });

  it('has no clock: Date.now(), new Date() and Date() throw, ctx.now() gives the batch time', async () => {
    const sb = sandbox(
      `export default (events, ctx) => [{ sink: 's', op: 'o', value: [ctx.now(), new Date(ctx.now()).toISOString(), new Date(0).getTime(), Date.UTC(2020, 0, 1), Date.parse('2020-01-01T00:00:00Z')] }]`,
    );
    const [action] = await sb.run([], { trigger: 't', now: 1_700_000_000_000 });
    expect(action?.value).toEqual([1_700_000_000_000, new Date(1_700_000_000_000).toISOString(), 0, 1_577_836_800_000, 1_577_836_800_000]);
    for (const expression of ['Date.now()', 'new Date()', 'Date()']) {
      const clocked = sandbox(`export default () => [{ sink: 's', op: 'o', value: ${expression} }]`);
      const err = await failure(clocked.run([], { trigger: 't', now: 1_700_000_000_000 }));
      expect(err.kind).toBe('runtime');
      expect(err.message).toContain(`${expression} is not available in functions`);
      expect(err.message).toContain('ctx.now()');
    }
    const err = await failure(sb.run([], { trigger: 't' }));
    expect(err.message).toContain('ctx.now(): this call was given no batch time');
  });

  it('exposes no host objects, module loader or timers', async () => {
    const sb = sandbox(`export default () => [{ sink: 's', op: 'o', value: {
      process: typeof globalThis.process, require: typeof require, fetch: typeof fetch, setTimeout: typeof setTimeout,
      setInterval: typeof setInterval, queueMicrotask: typeof queueMicrotask, Buffer: typeof Buffer, std: typeof std, os: typeof os,
      WebAssembly: typeof WebAssembly, performance: typeof performance,
    } }]`);
    const [action] = await sb.run([], { trigger: 't' });
    expect(Object.values(action?.value as Record<string, string>).every((t) => t === 'undefined')).toBe(true);
  });

  it('fails a call that returns something other than an array, naming what it got', async () => {
    const sb = sandbox(`export default () => ({ sink: 'a', op: 'b' })`);
    const err = await failure(sb.run([], { trigger: 't' }));
    expect(err.kind).toBe('invalid-actions');
    expect(err.message).toContain('must return an array of actions');
    expect(err.message).toContain('got an object');
  });

  it('fails a call whose actions are invalid, naming index and field', async () => {
    const sb = sandbox(`export default () => [{ sink: 'cache', op: 'set' }, { sink: 'cach', op: 'set' }]`);
    const err = await failure(sb.run([], { trigger: 't', sinkNames: ['cache', 'audit'] }));
    expect(err.kind).toBe('invalid-actions');
    expect(err.message).toContain('actions[1].sink: unknown sink "cach"; this trigger has sinks: cache, audit');
  });

  it('enforces the output size cap', async () => {
    const sb = sandbox(`export default () => [{ sink: 'a', op: 'b', value: 'x'.repeat(20000) }]`, { limits: { maxOutputBytes: 10_000 } });
    const err = await failure(sb.run([], { trigger: 't' }));
    expect(err.kind).toBe('output');
    expect(err.message).toMatch(/over the limit of 10000 bytes/);
  });

  it('reports runtime errors with line and column, and keeps working', async () => {
    const sb = sandbox(`export default function (events) {\n  if (events[0] === 'boom') {\n    throw new RangeError('bad input');\n  }\n  return [];\n}`);
    const err = await failure(sb.run(['boom'], { trigger: 't' }));
    expect(err.kind).toBe('runtime');
    expect(err.functionName).toBe('fn');
    expect(err.message).toContain('RangeError: bad input');
    expect(err.line).toBe(3);
    expect(err.column).toBeGreaterThan(0);
    expect(await sb.run(['ok'], { trigger: 't' })).toEqual([]);
  });

  it('throws a syntax-kind error from the constructor', () => {
    let caught: unknown;
    try {
      sandbox(`export default function (events) {\n  return events.map(e => {\n    return [;\n  });\n}`);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FunctionError);
    const err = caught as FunctionError;
    expect(err.kind).toBe('syntax');
    expect(err.line).toBe(3);
    expect(err.column).toBe(13);
  });

  it('rejects code without a handler, and empty code', () => {
    expect(() => sandbox(`const x = 1;`)).toThrow(/must "export default" a function/);
    expect(() => sandbox('  ')).toThrow(/empty/);
  });

  it('refuses calls after dispose', async () => {
    const sb = sandbox(MAPPER);
    sb.dispose();
    sb.dispose();
    expect(sb.isDisposed).toBe(true);
    await expect(sb.run([], { trigger: 't' })).rejects.toThrow(/disposed/);
  });
});
