import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SinkWriteError } from '../sinks/sink.js';
import { readDeadLetterHeaders, REPLAYED_HEADER } from '../processors/dead-letters.js';
import { ProcessorManager } from '../processors/manager.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import { processorContext } from '../testing/processors/context.js';
import { dropMemoryBucket, memoryBucket, memorySinkKind } from '../testing/processors/memory-sink.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import type { TriggerDefinition } from '../processors/trigger-definition.js';
import { consumerGroupOf } from '../processors/trigger-runtime.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { committedTotal, produceEvents, readTopic } from './support/processor-kafka.js';

const run = promisify(execFile);
const prefix = uniqueName('cff');
const context = processorContext({ brokers: testInfra().kafka, prefix });
const admin = context.kafka.admin();
const manager = new ProcessorManager([], { extraSinkKinds: [memorySinkKind], topicRefreshMs: 0 });
const workDir = mkdtempSync(join(tmpdir(), 'cf-proc-'));

function trigger(input: Record<string, unknown>, functionCode?: string, timeoutMs = 1000): TriggerDefinition {
  const parsed = triggerConfigSchema.parse(input);
  return {
    ...parsed,
    key: parsed.name,
    ...(functionCode ? { functionCode: { name: `${parsed.name}-fn`, code: functionCode, memoryMiB: 32, timeoutMs } } : {}),
  };
}

beforeAll(async () => {
  await admin.connect();
  await manager.start(context);
});

afterAll(async () => {
  await manager.stop();
  await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(prefix)));
  await admin.disconnect();
  await context.close();
  rmSync(workDir, { recursive: true, force: true });
});

describe('processor failure handling against the real Kafka', () => {
  it('one poison event in a batch of 1,000: 999 reach the sink, 1 lands in the DLQ with its error; replay re-delivers it', async () => {
    const name = uniqueName('poison');
    const topic = `${prefix}.shop.${name}`;
    await admin.ensureTopics([{ topic, partitions: 1 }]);
    const events = Array.from({ length: 1000 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: name, docId: seq, seq, fields: { poison: seq === 617 } }));
    await produceEvents(context.kafka, topic, events);
    const bucket = memoryBucket(name);
    const buggy = `export default function handle(events) {
      return events.map((e) => {
        if (e.fullDocument.poison) throw new Error('cannot handle order ' + e.id);
        return { sink: 'out', op: 'set', key: e.id };
      });
    }`;
    const sinks = [{ name: 'out', kind: 'memory', bucket: name }];
    const settings = { name, source: { topic }, sinks, batch: { maxSize: 1000, maxWaitMs: 2000 }, retry: { attempts: 3, initialDelayMs: 20, maxDelayMs: 100 } };
    await manager.apply(trigger(settings, buggy));
    const group = consumerGroupOf(prefix, name);
    await eventually(async () => (await committedTotal(admin, group, topic)) === 1000, 'the batch committed', 60_000);

    expect(bucket.records).toHaveLength(999);
    expect(bucket.records.map((r) => r.event.id)).not.toContain(`shop.${name}:617`);
    expect(new Set(bucket.records.map((r) => r.event.id)).size).toBe(999);
    const stats = manager.status(name)?.stats;
    expect(stats?.deadLettered).toBe(1);
    expect(stats?.delivered).toBe(999);

    const [letter] = await readTopic(context.kafka, `${prefix}.__dlq.${name}`, 1);
    const info = readDeadLetterHeaders(letter?.headers ?? {});
    expect(info.error).toMatch(/runtime error: Error: cannot handle order shop\..*:617/);
    expect(info.errorKind).toBe('function:runtime');
    expect(info.attempts).toBeGreaterThanOrEqual(3);
    expect({ topic: info.topic, partition: info.partition, offset: info.offset }).toEqual({ topic, partition: 0, offset: '617' });
    expect(JSON.parse(letter?.value?.toString() ?? '{}')).toEqual(events[617]);

    // The fix: a new function version (applied while running), then `changeflow dlq replay`.
    await manager.apply(
      trigger(settings, buggy.replace("throw new Error('cannot handle order ' + e.id)", "return { sink: 'out', op: 'set', key: e.id, fixed: true }")),
    );
    const configPath = join(workDir, `${name}.yaml`);
    writeFileSync(configPath, `kafka: { brokers: ["${testInfra().kafka}"], topicPrefix: ${prefix} }\n`);
    const cli = await run(process.execPath, ['bin/changeflow.js', 'dlq', 'replay', name, '--config', configPath], {
      env: { ...process.env, LOG_LEVEL: 'silent' },
    });
    expect(cli.stdout).toContain(`replayed 1 dead letter of trigger "${name}": 1 → ${topic}`);
    await eventually(() => bucket.records.length === 1000, 'the replayed event reached the sink');
    const replayed = bucket.records[999];
    expect(replayed?.event.id).toBe(`shop.${name}:617`);
    expect(replayed?.action).toMatchObject({ fixed: true });
    expect(replayed?.origin).toMatchObject({ topic, offset: '1000' });
    // Each dead letter is replayed once.
    const again = await run(process.execPath, ['bin/changeflow.js', 'dlq', 'status', name, '--config', configPath, '--json'], {
      env: { ...process.env, LOG_LEVEL: 'silent' },
    });
    expect(JSON.parse(again.stdout)).toMatchObject({ total: 1, pending: 0 });
    const [reinjected] = (await readTopic(context.kafka, topic, 1001)).filter((r) => r.offset === '1000');
    expect(reinjected?.headers[REPLAYED_HEADER]).toBe(`${prefix}.__dlq.${name}:0:0`);
    await manager.remove(name);
    dropMemoryBucket(name);
  });

  it('sends records a sink refused for good, and records that are not change events, to the DLQ; the rest count as done', async () => {
    const name = uniqueName('refuse');
    const topic = `${prefix}.shop.${name}`;
    await admin.ensureTopics([{ topic, partitions: 1 }]);
    await produceEvents(
      context.kafka,
      topic,
      Array.from({ length: 50 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: name, docId: seq, seq })),
    );
    const producer = context.kafka.producer();
    await producer.connect();
    await producer.send([
      { topic, key: 'junk', value: 'this is not JSON' },
      { topic, key: 'junk2', value: JSON.stringify({ v: 1, op: 'insert' }) },
    ]);
    await producer.disconnect();
    const bucket = memoryBucket(name);
    bucket.beforeAck = (records) => {
      const index = records.findIndex((r) => r.event.id === `shop.${name}:7`);
      if (index >= 0) throw new SinkWriteError('duplicate key', [{ index, reason: 'E11000 duplicate key' }]);
    };
    await manager.apply(trigger({ name, source: { topic }, sinks: [{ name: 'out', kind: 'memory', bucket: name }], batch: { maxSize: 100, maxWaitMs: 500 } }));
    await eventually(async () => (await committedTotal(admin, consumerGroupOf(prefix, name), topic)) === 52, 'all offsets committed', 30_000);
    expect(bucket.records).toHaveLength(49);
    const letters = await readTopic(context.kafka, `${prefix}.__dlq.${name}`, 3);
    const infos = letters.map((l) => readDeadLetterHeaders(l.headers)).sort((a, b) => Number(a.offset) - Number(b.offset));
    expect(infos.map((i) => [i.offset, i.errorKind])).toEqual([
      ['7', 'sink-rejected'],
      ['50', 'decode'],
      ['51', 'decode'],
    ]);
    expect(infos[0]?.error).toContain('E11000 duplicate key');
    expect(infos[0]?.sink).toBe('out');
    expect(infos[1]?.error).toContain('invalid JSON');
    expect(infos[2]?.error).toMatch(/not a change event: .*id/);
    await manager.remove(name);
    dropMemoryBucket(name);
  });

  it('contains hostile functions with a clear error each, dead-letters their events, and keeps processing', async () => {
    const hostile: Record<string, { code: string; error: RegExp }> = {
      spin: { code: 'while (true) {}', error: /timeout error: exceeded the CPU time limit of 300 ms/ },
      alloc: { code: 'out.push(new Uint8Array(1024 * 1024 * 1024));', error: /memory error: exceeded the memory limit of 32 MiB/ },
      recurse: { code: 'const f = (n) => f(n + 1) + 1; f(0);', error: /stack overflow/ },
      require: { code: "require('fs').readFileSync('/etc/passwd');", error: /ReferenceError: .*require/ },
      process: { code: 'globalThis.process.exit(1);', error: /TypeError: .*(undefined|process)/ },
      fetch: { code: "fetch('http://127.0.0.1:1/');", error: /ReferenceError: .*fetch/ },
      unserialisable: { code: "return [{ sink: 'out', op: 'set', value: () => 1 }];", error: /output error: actions\[0\]\.value is a function/ },
    };
    const topic = `${prefix}.shop.hostile`;
    await admin.ensureTopics([{ topic, partitions: 1 }]);
    await produceEvents(
      context.kafka,
      topic,
      Array.from({ length: 20 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: 'hostile', docId: seq, seq, fields: { bad: seq === 10 } })),
    );
    const names = Object.keys(hostile).map((kind) => ({ kind, name: uniqueName(kind) }));
    await Promise.all(
      names.map(({ kind, name }) => {
        const code = `export default function handle(events) {
          const out = [];
          if (events.some((e) => e.fullDocument.bad)) { ${hostile[kind]?.code} }
          return events.map((e) => ({ sink: 'out', op: 'set', key: e.id }));
        }`;
        return manager.apply(
          trigger(
            {
              name,
              source: { topic },
              sinks: [{ name: 'out', kind: 'memory', bucket: name }],
              batch: { maxSize: 20, maxWaitMs: 500 },
              retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 50 },
            },
            code,
            300,
          ),
        );
      }),
    );
    for (const { name } of names) {
      await eventually(async () => (await committedTotal(admin, consumerGroupOf(prefix, name), topic)) === 20, `${name} committed its batch`, 60_000);
    }
    // The next batch of each trigger is processed normally.
    await produceEvents(
      context.kafka,
      topic,
      Array.from({ length: 5 }, (_, i) => makeChangeEvent({ db: 'shop', coll: 'hostile', docId: 100 + i, seq: 100 + i })),
    );
    const letters = await readTopic(
      context.kafka,
      names.map(({ name }) => `${prefix}.__dlq.${name}`),
      names.length,
    );
    for (const { kind, name } of names) {
      await eventually(() => memoryBucket(name).records.length === 24, `${kind}: 19 + 5 events delivered`, 30_000);
      const letter = letters.find((l) => l.topic === `${prefix}.__dlq.${name}`);
      const info = readDeadLetterHeaders(letter?.headers ?? {});
      expect({ kind, offset: info.offset }).toEqual({ kind, offset: '10' });
      expect(`${kind}: ${info.error}`).toMatch(hostile[kind]?.error ?? /never/);
      expect(context.health.report().components[`processor:${name}`]?.ok).toBe(true);
    }
    expect(manager.running()).toEqual(expect.arrayContaining(names.map((n) => n.name)));
    for (const { name } of names) {
      await manager.remove(name);
      dropMemoryBucket(name);
    }
  });

  it('rejects a function with a syntax error when the trigger is applied, without disturbing running triggers', async () => {
    const name = uniqueName('syntax');
    const before = manager.running();
    await expect(
      manager.apply(
        trigger(
          { name, source: { topic: `${prefix}.shop.syntax` }, sinks: [{ name: 'out', kind: 'memory', bucket: name }] },
          'export default function (events) {\n  return events.map((e) => ({ sink: "out", op: "set" }) ;\n}',
        ),
      ),
    ).rejects.toThrow(/function: function ".*" syntax error: SyntaxError: .*\(line 2/);
    expect(manager.running()).toEqual(before);
    expect(context.health.report().components[`processor:${name}`]?.ok).toBe(false);
    await manager.remove(name);
  });

  it('reports sink config errors by key path', async () => {
    const bad = new ProcessorManager(
      [
        trigger({
          name: 'bad',
          source: { topic: 't' },
          sinks: [
            { name: 'a', kind: 'memory', bucket: 'b' },
            { name: 'b', kind: 'memory', buckett: 'x' },
            { name: 'c', kind: 'nope' },
          ],
        }),
      ],
      { extraSinkKinds: [memorySinkKind] },
    );
    await expect(bad.start(processorContext({ brokers: testInfra().kafka, prefix }))).rejects.toThrow(
      /triggers\[0\]\.sinks\[1\]\.bucket: .*\n.*triggers\[0\]\.sinks\[1\]\.buckett: unknown key[\s\S]*triggers\[0\]\.sinks\[2\]\.kind: unknown sink kind "nope"; known kinds: memory/,
    );
  });
});
