import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { resolveJars } from '../core/infra/maven.js';
import { startMongo } from '../core/infra/mongo-server.js';
import { freePort } from '../core/infra/net.js';
import { stopProcess } from '../core/infra/process.js';
import { redisAnswers } from '../core/infra/redis-server.js';
import { ProcessorManager } from '../processors/manager.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import { processorContext } from '../testing/processors/context.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import type { TriggerDefinition } from '../processors/trigger-definition.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { produceEvents } from './support/processor-kafka.js';

// Sinks whose target is not there when the trigger starts deliver everything once it comes up,
// without a restart of the trigger or the service; health says what is wrong meanwhile.
const prefix = uniqueName('cfsr');
const context = processorContext({ brokers: testInfra().kafka, prefix });
const admin = context.kafka.admin();
const manager = new ProcessorManager([], { topicRefreshMs: 0 });
const LATE_MS = 10_000;
let mongoPid: number | null = null;
let redis: ChildProcess | null = null;
const workDirs: string[] = [];
function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'changeflow-late-mongo-'));
  workDirs.push(dir);
  return dir;
}

function trigger(input: Record<string, unknown>): TriggerDefinition {
  const parsed = triggerConfigSchema.parse(input);
  return { ...parsed, key: parsed.name };
}

function sinkHealth(trigger: string, sink: string): { ok: boolean; detail?: string | undefined } | undefined {
  return context.health.report().components[`sink:${trigger}:${sink}`];
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
  if (mongoPid !== null) await stopProcess(mongoPid, 5_000);
  redis?.kill('SIGTERM');
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

describe('sinks recover from a target that comes up late', () => {
  it(`a MongoDB target that comes up ${LATE_MS / 1000} s after the trigger starts receives every event, no restart`, async () => {
    const jars = await resolveJars();
    const port = await freePort();
    const uri = `mongodb://127.0.0.1:${port}/?directConnection=true`;
    const name = uniqueName('latemongo');
    const topic = `${prefix}.shop.${name}`;
    await admin.ensureTopics([{ topic, partitions: 1 }]);
    await produceEvents(
      context.kafka,
      topic,
      Array.from({ length: 20 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: 'orders', docId: seq, seq })),
    );
    const sinks = [{ name: 'copy', kind: 'mongodb', uri, db: 'late_copy', timeoutMs: 1500 }];
    const started = Date.now();
    await manager.apply(
      trigger({ name, source: { topic }, sinks, batch: { maxSize: 20, maxWaitMs: 200 }, retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 1000 } }),
    );
    await eventually(() => sinkHealth(name, 'copy')?.ok === false, 'health shows the MongoDB sink failing', 10_000);
    process.stdout.write(`[recovery] while down: ${sinkHealth(name, 'copy')?.detail ?? ''}\n`);

    await new Promise((r) => setTimeout(r, Math.max(0, started + LATE_MS - Date.now())));
    const launched = Date.now();
    const server = await startMongo({ jars, workDir: workDir(), port });
    mongoPid = server.pid;
    const up = Date.now();
    const client = new MongoClient(uri);
    await client.connect();
    try {
      await eventually(async () => (await client.db('late_copy').collection('orders').countDocuments()) === 20, 'all 20 events in the late target', 60_000);
      process.stdout.write(
        `[recovery] mongodb: target launched ${Math.round((launched - started) / 1000)} s and answering ${Math.round((up - started) / 1000)} s after the trigger started; all 20 delivered ${Date.now() - up} ms after it answered\n`,
      );
      await eventually(() => sinkHealth(name, 'copy')?.ok === true, 'health back to ok', 10_000);
      expect(manager.status(name)?.stats?.delivered).toBe(20);
      expect(manager.status(name)?.stats?.deadLettered).toBe(0);
    } finally {
      await client.close();
    }

    // Later: the target goes away (a fresh in-memory server comes back on the same port), events keep coming.
    await stopProcess(server.pid, 5_000);
    mongoPid = null;
    await produceEvents(
      context.kafka,
      topic,
      Array.from({ length: 10 }, (_, i) => makeChangeEvent({ db: 'shop', coll: 'orders', docId: 100 + i, seq: 100 + i })),
    );
    await eventually(() => sinkHealth(name, 'copy')?.ok === false, 'health shows the MongoDB sink failing again', 30_000);
    const again = await startMongo({ jars, workDir: workDir(), port });
    mongoPid = again.pid;
    const back = Date.now();
    const client2 = new MongoClient(uri);
    await client2.connect();
    try {
      await eventually(
        async () => (await client2.db('late_copy').collection('orders').countDocuments()) === 10,
        'the 10 later events in the restarted target',
        60_000,
      );
      process.stdout.write(`[recovery] mongodb: target restarted; the 10 later events delivered ${Date.now() - back} ms after it answered\n`);
      await eventually(() => sinkHealth(name, 'copy')?.ok === true, 'health back to ok after the restart', 10_000);
      expect(manager.status(name)?.stats?.delivered).toBe(30);
      expect(manager.status(name)?.stats?.deadLettered).toBe(0);
    } finally {
      await client2.close();
    }
    await manager.remove(name);
  }, 240_000);

  it('a Redis target that comes up late receives every event, no restart', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const name = uniqueName('lateredis');
    const topic = `${prefix}.shop.${name}`;
    await admin.ensureTopics([{ topic, partitions: 1 }]);
    await produceEvents(
      context.kafka,
      topic,
      Array.from({ length: 20 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: 'orders', docId: seq, seq })),
    );
    const sinks = [{ name: 'cache', kind: 'redis', url, keyPrefix: `${name}:`, timeoutMs: 1000 }];
    const started = Date.now();
    await manager.apply(
      trigger({ name, source: { topic }, sinks, batch: { maxSize: 20, maxWaitMs: 200 }, retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 1000 } }),
    );
    await eventually(() => sinkHealth(name, 'cache')?.ok === false, 'health shows the Redis sink failing', 10_000);
    process.stdout.write(`[recovery] while down: ${sinkHealth(name, 'cache')?.detail ?? ''}\n`);

    await new Promise((r) => setTimeout(r, Math.max(0, started + LATE_MS - Date.now())));
    redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const up = Date.now();
    await eventually(() => redisAnswers(url), 'redis-server answers', 10_000, 200);
    const client = new Redis(url, { maxRetriesPerRequest: 3 });
    try {
      await eventually(async () => (await client.keys(`${name}:*`)).length === 20, 'all 20 keys in the late Redis', 60_000);
      process.stdout.write(
        `[recovery] redis: target up ${Math.round((up - started) / 1000)} s after the trigger started; all 20 delivered ${Date.now() - up} ms after start\n`,
      );
      await eventually(() => sinkHealth(name, 'cache')?.ok === true, 'health back to ok', 10_000);
      expect(manager.status(name)?.stats?.delivered).toBe(20);
    } finally {
      client.disconnect();
    }
    await manager.remove(name);
  }, 120_000);
});
