import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { Int32, MongoClient } from 'mongodb';
import { stringify } from 'yaml';
import wabtInit from 'wabt';
import { ControlClient } from '../control/client.js';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { TopicNames } from '../core/topics.js';
import { freePort } from '../core/infra/net.js';
import { readDeadLetterHeaders } from '../processors/dead-letters.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { produceEvents, readTopic } from './support/processor-kafka.js';
import { refused } from './support/grpc.js';

// Issue 21: WebAssembly (Extism) functions through the real service (`changeflow run` as a child
// process), Kafka, the MongoDB-compatible server and Redis, with the modules of examples/wasm/build.

const TOKEN = 'wasm-token-0123456789abcdef';
const bin = fileURLToPath(new URL('../bin/changeflow.js', import.meta.url));
const built = (name: string): string => fileURLToPath(new URL(`../examples/wasm/build/${name}.wasm`, import.meta.url));
const run = promisify(execFile);

type Msg = Record<string, unknown>;
interface ExecuteReply {
  actions_json: string;
  logs: string[];
  error: string;
  error_kind: string;
}

function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) * 1024;
}

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(0)} MiB`;

describe('WebAssembly functions in the running service (issue 21)', () => {
  const infra = testInfra();
  const prefix = uniqueName('cfwasm');
  const [dbA, dbB, metaDb] = [uniqueName('wasma'), uniqueName('wasmb'), uniqueName('wasmmeta')];
  const redisPrefix = `${uniqueName('wasm')}:`;
  const dir = mkdtempSync(join(tmpdir(), 'cf-wasm-'));
  const kafka = createKafkajsTransport({ brokers: [infra.kafka] });
  const admin = kafka.admin();
  const mongo = new MongoClient(infra.mongodb);
  const redis = infra.redis ? new Redis(infra.redis) : undefined;
  const poisonTopic = `${prefix}.ext.poison`;
  /** One trigger per other hostile module, each on its own topic: what each failure looks like as a dead letter. */
  const hostileTriggers = [
    {
      name: 'dead-spin',
      module: 'hostile-spin',
      limits: { memoryMiB: 32, timeoutMs: 200 },
      kind: 'function:timeout',
      error: /exceeded the CPU time limit of 200 ms/,
    },
    {
      name: 'dead-grow',
      module: 'hostile-grow',
      limits: { memoryMiB: 16, timeoutMs: 2_000 },
      kind: 'function:memory',
      error: /out of memory: trapped .* of its 16 MiB limit/,
    },
    {
      name: 'dead-huge',
      module: 'hostile-huge-output',
      limits: { memoryMiB: 32, timeoutMs: 2_000 },
      kind: 'function:output',
      error: /output of 16777216 bytes exceeds/,
    },
  ];
  let service: ChildProcess;
  let stderr = '';
  let httpUrl = '';
  let address = '';
  let client: ControlClient;

  beforeAll(async () => {
    await Promise.all([admin.connect(), mongo.connect()]);
    const changeTopic = new TopicNames(prefix).change(dbA, 'items');
    await admin.ensureTopics([
      { topic: changeTopic, partitions: 1 },
      { topic: poisonTopic, partitions: 1 },
      ...hostileTriggers.map((h) => ({ topic: `${prefix}.ext.${h.name}`, partitions: 1 })),
    ]);
    for (const name of ['passthrough', 'redis-cache', 'hostile-unreachable', ...hostileTriggers.map((h) => h.module)])
      copyFileSync(built(name), join(dir, `${name}.wasm`));
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const file = join(dir, 'changeflow.yaml');
    writeFileSync(
      file,
      stringify({
        kafka: { brokers: [infra.kafka], topicPrefix: prefix },
        mongodb: { uri: infra.mongodb, db: metaDb },
        http: { port: httpPort },
        grpc: { port: grpcPort },
        auth: { tokens: [{ token: TOKEN, userId: 'ops', admin: true }] },
        sources: [{ name: 'a', uri: infra.mongodb, watch: { db: dbA, coll: 'items' }, snapshot: 'never', checkpointIntervalMs: 200 }],
        functions: [
          { name: 'sync', wasm: './passthrough.wasm' },
          { name: 'cache', wasm: 'redis-cache.wasm' },
          { name: 'trap', wasm: './hostile-unreachable.wasm' },
          ...hostileTriggers.map((h) => ({ name: `${h.name}-fn`, wasm: `./${h.module}.wasm`, limits: h.limits })),
        ],
        triggers: [
          {
            name: 'a-to-b',
            source: { topic: changeTopic },
            function: 'sync',
            sinks: [{ name: 'b', kind: 'mongodb', uri: infra.mongodb, db: dbB }],
            batch: { maxSize: 100, maxWaitMs: 50 },
          },
          ...(infra.redis
            ? [
                {
                  name: 'to-redis',
                  source: { topic: changeTopic },
                  function: 'cache',
                  sinks: [{ name: 'cache', kind: 'redis', url: infra.redis, keyPrefix: redisPrefix }],
                  batch: { maxSize: 100, maxWaitMs: 50 },
                },
              ]
            : []),
          {
            name: 'poison',
            source: { topic: poisonTopic },
            function: 'trap',
            sinks: [{ name: 'out', kind: 'audit', collection: 'poison-audit' }],
            batch: { maxSize: 10, maxWaitMs: 50 },
            retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
          },
          ...hostileTriggers.map((h) => ({
            name: h.name,
            source: { topic: `${prefix}.ext.${h.name}` },
            function: `${h.name}-fn`,
            sinks: [{ name: 'out', kind: 'audit', collection: 'hostile-audit' }],
            batch: { maxSize: 10, maxWaitMs: 50 },
            retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
          })),
        ],
      }),
    );
    service = spawn(process.execPath, [bin, 'run', '--config', file], { env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`changeflow run did not start in 90 s:\n${stderr}`)), 90_000);
      service.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
        if (stderr.includes('changeflow running:')) {
          clearTimeout(timer);
          resolve();
        }
      });
      service.once('exit', (code) => reject(new Error(`changeflow run exited with ${code}:\n${stderr}`)));
    });
    httpUrl = `http://127.0.0.1:${httpPort}`;
    address = `127.0.0.1:${grpcPort}`;
    client = new ControlClient(address, TOKEN, { deadlineMs: 60_000 });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    if (service && service.exitCode === null) {
      const exited = new Promise((r) => service.once('exit', r));
      service.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
    for (const db of [dbA, dbB, metaDb])
      await mongo
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics(topics).catch(() => undefined);
    if (redis) {
      const keys = await redis.keys(`${redisPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await Promise.all([admin.disconnect(), mongo.close()]);
  });

  it('syncs collection A to B through the AssemblyScript pass-through, and caches it in Redis', async () => {
    const a = mongo.db(dbA).collection<{ _id: Int32; n: Int32; name: string }>('items');
    await a.insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: new Int32(i), n: new Int32(i), name: `item ${i}` })));
    for (const i of [3, 4, 5]) await a.replaceOne({ _id: new Int32(i) }, { n: new Int32(i * 100), name: `replaced ${i}` });
    for (const i of [7, 8]) await a.deleteOne({ _id: new Int32(i) });
    const b = mongo.db(dbB).collection('items');
    const expected = await a.find().sort({ _id: 1 }).toArray();
    expect(expected).toHaveLength(18);
    await eventually(
      async () => JSON.stringify(await b.find().sort({ _id: 1 }).toArray()) === JSON.stringify(expected),
      `B to equal A (last service output:\n${stderr.slice(-3000)})`,
      60_000,
      250,
    );
    if (!redis) return;
    await eventually(
      async () => (await redis.exists(`${redisPrefix}items:7`)) === 0 && (await redis.exists(`${redisPrefix}items:5`)) === 1,
      'the Redis cache',
      30_000,
    );
    expect(JSON.parse((await redis.get(`${redisPrefix}items:5`)) ?? 'null')).toMatchObject({ name: 'replaced 5' });
    expect((await redis.keys(`${redisPrefix}items:*`)).sort()).toHaveLength(18);
  }, 90_000);

  it('a trapping module sends each event of its batch to the dead-letter topic with the trap as its error', async () => {
    const events = Array.from({ length: 3 }, (_, i) => makeChangeEvent({ db: 'ext', coll: 'poison', docId: i, seq: i }));
    await produceEvents(kafka, poisonTopic, events);
    const letters = await readTopic(kafka, `${prefix}.__dlq.poison`, 3, 60_000);
    const info = readDeadLetterHeaders(letters[0]?.headers ?? {});
    console.log(`dead letter of the unreachable module: ${info.errorKind}: ${info.error}`);
    expect(info.errorKind).toBe('function:runtime');
    expect(info.error).toMatch(/function "trap" runtime error: trapped: RuntimeError: unreachable/);
    expect(letters.map((l) => JSON.parse(l.value?.toString() ?? '{}').id).sort()).toEqual(events.map((e) => e.id).sort());
  }, 90_000);

  it('the spinning, memory-growing and huge-output modules each dead-letter their event with their own error', async () => {
    for (const h of hostileTriggers) await produceEvents(kafka, `${prefix}.ext.${h.name}`, [makeChangeEvent({ db: 'ext', coll: h.name, docId: 1, seq: 1 })]);
    for (const h of hostileTriggers) {
      const [letter] = await readTopic(kafka, `${prefix}.__dlq.${h.name}`, 1, 60_000);
      const info = readDeadLetterHeaders(letter?.headers ?? {});
      console.log(`dead letter of ${h.module}: ${info.errorKind}: ${info.error} (attempts ${info.attempts})`);
      expect([h.name, info.errorKind, info.error]).toEqual([h.name, h.kind, expect.stringMatching(h.error)]);
    }
  }, 120_000);

  it('refuses at create and update, with INVALID_ARGUMENT naming the problem, a module that could not run', async () => {
    const wabt = await wabtInit();
    const wat = (text: string): Uint8Array => wabt.parseWat('x.wat', text).toBinary({}).buffer;
    const create = (name: string, wasm: Uint8Array): Promise<unknown> => client.call('functions', 'create', { function: { name, function_type: 1, wasm } });
    const cases: [string, Uint8Array, RegExp][] = [
      ['text', new TextEncoder().encode('export default () => []'), /^function\.wasm: not a WebAssembly module/],
      ['no-handle', wat('(module (memory 1) (func (export "run") (result i32) (i32.const 0)))'), /^function\.wasm: the module exports no function "handle"/],
      [
        'wasi',
        wat(
          '(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (memory 1) (func (export "handle") (result i32) (i32.const 0)))',
        ),
        /^function\.wasm: imports outside the Extism host functions .*wasi_snapshot_preview1\.fd_write/,
      ],
      ['huge', new Uint8Array(8 * 1024 * 1024 + 1), /^function\.wasm: at most 8388608 bytes \(8 MiB\), got 8388609/],
    ];
    for (const [name, bytes, message] of cases) {
      const error = await refused(create(name, bytes));
      expect([name, error.code, error.details]).toEqual([name, grpc.status.INVALID_ARGUMENT, expect.stringMatching(message)]);
    }
    const fn = (
      await client.call<{ function: Msg }>('functions', 'create', { function: { name: 'echo', function_type: 1, wasm: readFileSync(built('wat-echo')) } })
    ).function;
    expect(fn['function_type']).toBe(1);
    const error = await refused(client.call('functions', 'update', { id: fn['id'], wasm: cases[1]?.[1] }));
    expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/^wasm: the module exports no function "handle"/)]);
    // 64 pages (4 MiB) of initial memory: fine at the default 32 MiB, refused when memory_mib alone drops to 1.
    const big = (
      await client.call<{ function: Msg }>('functions', 'create', {
        function: { name: 'big-memory', function_type: 1, wasm: wat('(module (memory 64) (func (export "handle") (result i32) (i32.const 0)))') },
      })
    ).function;
    const lowered = await refused(client.call('functions', 'update', { id: big['id'], memory_mib: 1 }));
    expect([lowered.code, lowered.details]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      expect.stringMatching(/^wasm: the module's memory starts at 64 pages .* limit of 16 pages/),
    ]);
  });

  it('execute runs a stored WASM function (actions and logs out) and reports each hostile module as its error', async () => {
    const create = async (name: string, module: string, limits: Msg = {}): Promise<string> =>
      String(
        (await client.call<{ function: Msg }>('functions', 'create', { function: { name, function_type: 1, wasm: readFileSync(built(module)), ...limits } }))
          .function['id'],
      );
    const event = makeChangeEvent({ db: 'shop', coll: 'orders', docId: 9, seq: 1 });
    const cache = await client.call<ExecuteReply>('functions', 'execute', {
      id: await create('exec-cache', 'redis-cache'),
      events_json: JSON.stringify([event]),
    });
    expect(JSON.parse(cache.actions_json)).toEqual([{ sink: 'cache', op: 'set', key: 'orders:9', value: event.fullDocument }]);
    expect(cache.logs).toEqual(['info: cached 1 of 1 events']);

    const hostile: [string, string, Msg, string, RegExp][] = [
      ['exec-trap', 'hostile-unreachable', {}, 'runtime', /trapped: RuntimeError: unreachable/],
      ['exec-grow', 'hostile-grow', { memory_mib: 64 }, 'memory', /out of memory: trapped .* of its 64 MiB limit/],
      ['exec-huge', 'hostile-huge-output', {}, 'output', /output of 16777216 bytes exceeds the limit of 8388608 bytes/],
    ];
    const pid = service.pid ?? 0;
    for (const [name, module, limits, kind, message] of hostile) {
      const before = rssOf(pid);
      const reply = await client.call<ExecuteReply>('functions', 'execute', { id: await create(name, module, limits), events_json: '[]' });
      const after = rssOf(pid);
      // The spent worker ends after the reply (the pool does not wait for its exit): let its memory go back.
      let settled = after;
      for (let i = 0; i < 100 && settled > before + 50 * 1048576; i++) {
        await new Promise((r) => setTimeout(r, 100));
        settled = rssOf(pid);
      }
      console.log(
        `execute ${module}: ${reply.error_kind}: ${reply.error}; service RSS ${mib(before)} before, ${mib(after)} at the reply, ${mib(settled)} settled`,
      );
      expect([name, reply.error_kind, reply.error]).toEqual([name, kind, expect.stringMatching(message)]);
      expect(settled - before).toBeLessThan(50 * 1048576);
    }
  });

  it('stops a spinning module within 2x its timeout while /healthz keeps answering', async () => {
    const id = String(
      (
        await client.call<{ function: Msg }>('functions', 'create', {
          function: { name: 'spin', function_type: 1, wasm: readFileSync(built('hostile-spin')), timeout_ms: 2_000 },
        })
      ).function['id'],
    );
    const started = performance.now();
    const spinning = client.call<ExecuteReply>('functions', 'execute', { id, events_json: '[]' }).then((reply) => ({ reply, ms: performance.now() - started }));
    await new Promise((r) => setTimeout(r, 300));
    const health: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      expect((await fetch(`${httpUrl}/healthz`)).status).toBe(200);
      health.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 200));
    }
    const { reply, ms } = await spinning;
    console.log(
      `wasm spin at timeout_ms 2000: ${reply.error_kind} after ${ms.toFixed(0)} ms; /healthz meanwhile in [${health.map((h) => h.toFixed(1)).join(', ')}] ms`,
    );
    expect(reply.error_kind).toBe('timeout');
    expect(ms).toBeLessThan(4_000);
    expect(Math.max(...health)).toBeLessThan(500);
  }, 30_000);

  it('the CLI creates a function from --wasm and tests it, and run --check loads wasm: modules', async () => {
    const env = { ...process.env, CHANGEFLOW_SERVER: address, CHANGEFLOW_TOKEN: TOKEN };
    const created = await run(process.execPath, [bin, 'functions', 'create', 'cli-echo', '--wasm', built('wat-echo'), '--json'], { env });
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'cli-echo', function_type: 1 });
    const tested = await run(process.execPath, [bin, 'functions', 'test', 'cli-echo', '--events-json', '[{"n":1}]', '--json'], { env });
    expect(JSON.parse(tested.stdout)).toMatchObject({
      actions: [{ sink: 'out', op: 'set', key: 'wat', value: [{ n: 1 }] }],
      logs: ['info: echo'],
      error: null,
    });
    const unsaved = await run(process.execPath, [bin, 'functions', 'test', '--wasm', built('passthrough'), '--events-json', '[]', '--json'], { env });
    expect(JSON.parse(unsaved.stdout)).toMatchObject({ actions: [], error: null });
    const checked = await run(process.execPath, [bin, 'run', '--check', '--config', join(dir, 'changeflow.yaml')]);
    expect(checked.stdout).toMatch(/: ok \(1 sources, 6 functions/);
  }, 60_000);
});
