import { UnavailableError } from '../core/errors.js';
import type { IncomingRecord } from '../core/kafka/index.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { SinkWriteError, type Action, type Sink, type SinkRecord } from '../sinks/sink.js';
import { BatchAbortedError, BatchProcessor, type FunctionRunner } from './batch-processor.js';
import { compileEventFilter } from './event-filter.js';
import { FunctionError } from './sandbox/index.js';
import { makeChangeEvent } from '../testing/processors/events.js';

function records(count: number, fields: (seq: number) => Record<string, unknown> = () => ({})): IncomingRecord[] {
  return Array.from({ length: count }, (_, seq) => ({
    topic: 'cf.shop.orders',
    partition: 0,
    offset: String(seq),
    key: null,
    value: Buffer.from(JSON.stringify(makeChangeEvent({ db: 'shop', coll: 'orders', docId: seq, seq, fields: fields(seq) }))),
    headers: {},
    timestamp: 0,
  }));
}

function sink(name: string, write: (records: readonly SinkRecord[]) => Promise<void> | void = () => undefined): Sink & { got: SinkRecord[]; calls: number } {
  const s = {
    name,
    kind: 'test',
    got: [] as SinkRecord[],
    calls: 0,
    start: async () => undefined,
    stop: async () => undefined,
    async write(rs: readonly SinkRecord[]) {
      s.calls++;
      await write(rs);
      s.got.push(...rs);
    },
  };
  return s;
}

const seqOf = (e: ChangeEvent): number => Number((e.fullDocument?.['seq'] as { $numberInt: string }).$numberInt);
const mapRunner = (body: (e: ChangeEvent) => Action | Action[]): FunctionRunner & { calls: number } => {
  const r = {
    calls: 0,
    async run(events: readonly ChangeEvent[]) {
      r.calls++;
      return events.flatMap(body);
    },
  };
  return r;
};

function processor(options: {
  runner?: FunctionRunner;
  sinks: Sink[];
  signal?: AbortSignal;
  match?: Record<string, unknown>;
  observer?: ConstructorParameters<typeof BatchProcessor>[0]['observer'];
}): BatchProcessor {
  return new BatchProcessor({
    trigger: 't',
    runner: options.runner,
    sinks: options.sinks,
    filter: compileEventFilter(undefined, options.match),
    retry: { attempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
    signal: options.signal ?? new AbortController().signal,
    ...(options.observer ? { observer: options.observer } : {}),
  });
}

describe('BatchProcessor', () => {
  it('passes events through to every sink, without actions, in order', async () => {
    const a = sink('a');
    const b = sink('b');
    const outcome = await processor({ sinks: [a, b], match: { 'fullDocument.seq': { $ne: 2 } } }).process(records(5));
    expect(outcome).toEqual({ delivered: 4, filtered: 1, deadLetters: [] });
    for (const s of [a, b]) {
      expect(s.got.map((r) => seqOf(r.event))).toEqual([0, 1, 3, 4]);
      expect(s.got.every((r) => r.action === undefined)).toBe(true);
    }
    expect(a.got[2]?.origin).toEqual({ topic: 'cf.shop.orders', partition: 0, offset: '3' });
  });

  it("routes a function's actions to the sinks they name, each tied to its event", async () => {
    const cache = sink('cache');
    const audit = sink('audit');
    const runner = mapRunner((e) => ({ sink: seqOf(e) % 2 === 0 ? 'cache' : 'audit', op: 'set', key: String(seqOf(e)) }));
    await processor({ runner, sinks: [cache, audit] }).process(records(6));
    expect(cache.got.map((r) => [r.action?.['key'], seqOf(r.event)])).toEqual([
      ['0', 0],
      ['2', 2],
      ['4', 4],
    ]);
    expect(audit.got.map((r) => r.action?.['key'])).toEqual(['1', '3', '5']);
  });

  it('retries a failing batch, then isolates the poison event by bisection; the rest is delivered in order', async () => {
    const out = sink('out');
    const runner = mapRunner((e) => {
      if (e.fullDocument?.['poison']) throw new Error(`poison ${e.id}`);
      return { sink: 'out', op: 'set', key: e.id };
    });
    const failures: string[] = [];
    const outcome = await processor({ runner, sinks: [out], observer: { failure: (kind) => failures.push(kind) } }).process(
      records(16, (seq) => ({ poison: seq === 11 })),
    );
    expect(outcome.delivered).toBe(15);
    expect(out.got.map((r) => seqOf(r.event))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15]);
    expect(outcome.deadLetters).toHaveLength(1);
    const [letter] = outcome.deadLetters;
    expect(letter?.record.offset).toBe('11');
    expect(letter?.errorKind).toBe('function:runtime');
    expect(letter?.error).toContain('poison shop.orders:11');
    // 2 attempts of the whole batch, 3 bisection levels, 2 attempts of the event alone.
    expect(letter?.attempts).toBe(2 + 3 + 2);
    expect(failures.every((k) => k === 'function:runtime')).toBe(true);
  });

  it('does not retry a function that throws (the same events throw again): bisects at once, dead-letters each culprit after one run alone, keeps order', async () => {
    const out = sink('out');
    const runner = {
      calls: 0,
      async run(events: readonly ChangeEvent[]): Promise<Action[]> {
        runner.calls++;
        return events.map((e) => {
          if (e.fullDocument?.['gone']) throw new FunctionError({ kind: 'runtime', functionName: 't', message: "TypeError: cannot read property 'n' of null" });
          return { sink: 'out', op: 'set', key: e.id };
        });
      },
    };
    const outcome = await processor({ runner, sinks: [out] }).process(records(16, (seq) => ({ gone: seq === 3 || seq === 11 })));
    expect(out.got.map((r) => seqOf(r.event))).toEqual([0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15]);
    expect(outcome.deadLetters.map((d) => [d.record.offset, d.errorKind])).toEqual([
      ['3', 'function:runtime'],
      ['11', 'function:runtime'],
    ]);
    // 1 run of the batch, 3 bisection levels, 1 run alone: no retry policy, no waiting.
    expect(outcome.deadLetters.map((d) => d.attempts)).toEqual([1 + 3 + 1, 1 + 3 + 1]);
    // The whole batch, then per half: 2 + 4 + 8 slices at most, plus the culprits alone.
    expect(runner.calls).toBeLessThanOrEqual(1 + 2 + 4 + 8 + 2);
  });

  it('retries a function timeout per the policy before isolating (load, not the events, may be the cause)', async () => {
    const out = sink('out');
    let calls = 0;
    const runner: FunctionRunner = {
      async run(events) {
        calls++;
        if (calls <= 1) throw new FunctionError({ kind: 'timeout', functionName: 't', message: 'exceeded the CPU time limit of 1000 ms' });
        return events.map((e) => ({ sink: 'out', op: 'set', key: e.id }));
      },
    };
    const outcome = await processor({ runner, sinks: [out] }).process(records(4));
    expect(outcome).toEqual({ delivered: 4, filtered: 0, deadLetters: [] });
    expect(calls).toBe(2);
  });

  it('sends only the records a sink refused for good to the DLQ; the rest count as done, with no retry', async () => {
    const out = sink('out', (rs) => {
      const index = rs.findIndex((r) => seqOf(r.event) === 3);
      if (index >= 0) throw new SinkWriteError('refused', [{ index, reason: 'duplicate key' }]);
    });
    const outcome = await processor({ sinks: [out] }).process(records(5));
    expect(out.calls).toBe(1);
    expect(outcome.delivered).toBe(4);
    expect(outcome.deadLetters.map((d) => [d.record.offset, d.errorKind, d.sink])).toEqual([['3', 'sink-rejected', 'out']]);
    expect(outcome.deadLetters[0]?.error).toContain('duplicate key');
  });

  it('finds the event behind a refused action when the function does not return one action per event', async () => {
    const out = sink('out', (rs) => {
      const index = rs.findIndex((r) => r.action?.['key'] === 'k2-b');
      if (index >= 0) throw new SinkWriteError('refused', [{ index, reason: 'too large' }]);
    });
    const runner = mapRunner((e) => [
      { sink: 'out', op: 'set', key: `k${seqOf(e)}-a` },
      { sink: 'out', op: 'set', key: `k${seqOf(e)}-b` },
    ]);
    const outcome = await processor({ runner, sinks: [out] }).process(records(4));
    expect(outcome.deadLetters.map((d) => d.record.offset)).toEqual(['2']);
  });

  it('waits for a sink that reports itself unavailable instead of dead-lettering', async () => {
    let failures = 2;
    const out = sink('out', () => {
      if (failures-- > 0) throw new UnavailableError('redis down');
    });
    const waits: string[] = [];
    const outcome = await processor({ sinks: [out], observer: { sinkUnavailable: (name) => waits.push(name) } }).process(records(3));
    expect(waits).toEqual(['out', 'out']);
    expect(outcome).toMatchObject({ delivered: 3, deadLetters: [] });
  });

  it('dead-letters records that are not change events', async () => {
    const out = sink('out');
    const input = [
      ...records(2),
      { ...records(1)[0], offset: '2', value: Buffer.from('{"v":1}') } as IncomingRecord,
      { ...records(1)[0], offset: '3', value: null } as IncomingRecord,
    ];
    const outcome = await processor({ sinks: [out] }).process(input);
    expect(outcome.delivered).toBe(2);
    expect(outcome.deadLetters.map((d) => [d.record.offset, d.errorKind])).toEqual([
      ['2', 'decode'],
      ['3', 'decode'],
    ]);
  });

  it('abandons the batch (no dead letters) when the trigger stops', async () => {
    const controller = new AbortController();
    const out = sink('out', () => {
      controller.abort();
      throw new Error('fails while stopping');
    });
    await expect(processor({ sinks: [out], signal: controller.signal }).process(records(4))).rejects.toBeInstanceOf(BatchAbortedError);
  });
});
