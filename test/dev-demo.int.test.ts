import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EJSON, type Document } from '../schemas/bson.js';
import { Redis } from 'ioredis';
import { MongoClient, ObjectId } from 'mongodb';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { freePort } from '../core/infra/net.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

const bin = join(process.cwd(), 'bin', 'changeflow.js');

/** Sum of a metric's samples in Prometheus text, optionally only those with `label`. */
function metricSum(text: string, name: string, label = ''): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(label))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

const canonical = (doc: Document): string => EJSON.stringify(doc, { relaxed: false });

/** JSON text with object keys sorted, so two documents compare equal whatever their field order. */
function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

describe('npx changeflow dev (child process)', () => {
  const infra = testInfra();
  const demoDb = uniqueName('devdemo').replace(/[^A-Za-z0-9_-]/g, '_');
  const metadataDb = `${demoDb}_meta`;
  const stateDir = mkdtempSync(join(tmpdir(), 'changeflow-dev-test-'));
  const mongo = new MongoClient(infra.mongodb);
  let redis: Redis | null = null;
  let child: ChildProcess | undefined;
  let stdout = '';
  let stderr = '';

  beforeAll(async () => {
    await mongo.connect();
    if (infra.redis) redis = new Redis(infra.redis, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis?.connect();
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    for (const db of [demoDb, `${demoDb}_copy`, `${demoDb}_sync`, metadataDb])
      await mongo
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    await mongo.close();
    if (redis) {
      const keys = await redis.keys(`${demoDb}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    const admin = createKafkajsTransport({ brokers: [infra.kafka] }).admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.includes(demoDb));
    if (topics.length > 0) await admin.deleteTopics(topics).catch(() => undefined);
    await admin.disconnect();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('syncs demo.users to the copy, the cache and the audit log while the generator writes, then stops cleanly on Ctrl-C', async () => {
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const writes = 600;
    const env = {
      ...process.env,
      KAFKA_BROKERS: infra.kafka,
      MONGODB_URI: infra.mongodb,
      CHANGEFLOW_STATE_DIR: stateDir,
      ...(infra.redis ? { REDIS_URL: infra.redis } : {}),
    };
    const args = [
      'dev',
      '--rate',
      '50',
      '--writes',
      String(writes),
      '--initial',
      '50',
      '--demo-db',
      demoDb,
      '--metadata-db',
      metadataDb,
      '--http-port',
      String(httpPort),
      '--grpc-port',
      String(grpcPort),
    ];
    const proc = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const show = (): string => `\n--- stdout\n${stdout.slice(-3000)}\n--- stderr\n${stderr.slice(-3000)}`;

    await eventually(() => stdout.includes('changeflow dev is running') || proc.exitCode !== null, 'the service to start', 90_000, 200);
    if (proc.exitCode !== null) throw new Error(`changeflow dev exited early with ${proc.exitCode}${show()}`);
    expect(stdout).toContain(`http://127.0.0.1:${httpPort}/metrics`);
    expect(stdout).toContain(`127.0.0.1:${grpcPort}`);
    const consoleLine = /console +(http:\/\/\S+\/console\/) +\(sign in with the Token (\S+)\)/.exec(stdout);
    expect(consoleLine?.[1]).toBe(`http://127.0.0.1:${httpPort}/console/`);
    expect(stdout).toContain(`topic changeflow.${demoDb}.users`);
    // Which client each role uses (issue 20: a newcomer sees whether the faster producer is in use).
    expect(stdout).toMatch(/kafka +127\.0\.0\.1:\d+ +\(produce on (kafkajs|librdkafka), consume on (kafkajs|librdkafka)/);

    // The generator's writes are counted in the service's own registry, served on /metrics.
    let metrics = '';
    await eventually(
      async () => {
        metrics = await fetch(`http://127.0.0.1:${httpPort}/metrics`).then((r) => r.text());
        return metricSum(metrics, 'changeflow_demo_writes_total') >= writes;
      },
      `the generator to make ${writes} writes`,
      90_000,
      500,
    );
    // The console the banner names answers, and its pipeline shows the demo's triggers delivering.
    expect((await fetch(consoleLine?.[1] ?? '')).status).toBe(200);
    await eventually(
      async () => {
        const pipeline = (await fetch(`http://127.0.0.1:${httpPort}/api/pipeline`, { headers: { authorization: `Bearer ${consoleLine?.[2]}` } }).then((r) =>
          r.json(),
        )) as {
          triggers: { name: string; delivered: number }[];
        };
        return (pipeline.triggers.find((t) => t.name === `${demoDb}-copy`)?.delivered ?? 0) > 0;
      },
      "the console's pipeline to count the copy trigger's deliveries",
      60_000,
      500,
    );
    const deletes = metricSum(metrics, 'changeflow_demo_writes_total', 'op="delete"');
    expect(deletes).toBeGreaterThan(0);

    const source = mongo.db(demoDb).collection('users');
    const copy = mongo.db(`${demoDb}_copy`).collection('users');
    const current = async (): Promise<Document[]> => source.find().sort({ _id: 1 }).toArray();
    let docs: Document[] = [];
    await eventually(
      async () => {
        docs = await current();
        const copied = await copy.find().sort({ _id: 1 }).toArray();
        return copied.length === docs.length && copied.every((d, i) => canonical(d) === canonical(docs[i] ?? {}));
      },
      `${demoDb}_copy.users to equal ${demoDb}.users document for document`,
      90_000,
      500,
    );
    expect(docs.length).toBeGreaterThan(0);

    const audit = mongo.db(metadataDb).collection('audit');
    await eventually(async () => (await audit.countDocuments({ op: 'delete' })) === deletes, `${deletes} delete records in ${metadataDb}.audit`, 60_000, 500);
    const deletedIds = (await audit.find({ op: 'delete' }).toArray()).map((r) => (r['documentKey'] as { _id: ObjectId })._id);
    expect(deletedIds.every((id) => id instanceof ObjectId)).toBe(true);
    expect(await source.countDocuments({ _id: { $in: deletedIds } })).toBe(0);

    if (redis) {
      const cache = redis;
      const expected = new Map(
        docs.map((d) => [`${demoDb}:users:${(d['_id'] as ObjectId).toHexString()}`, JSON.parse(EJSON.stringify(d, { relaxed: true })) as unknown]),
      );
      await eventually(
        async () => {
          const keys = await cache.keys(`${demoDb}:users:*`);
          if (keys.length !== expected.size) return false;
          const values = await cache.mget(...expected.keys());
          return [...expected.values()].every((doc, i) => values[i] !== null && sortedJson(JSON.parse(values[i] ?? 'null')) === sortedJson(doc));
        },
        `Redis to hold exactly the ${expected.size} current documents (and none of the deleted ones)`,
        60_000,
        500,
      );
    } else {
      expect(stdout).toContain('redis     unavailable');
    }

    // The banner's control-plane line works as printed: its token is an admin of the dev control plane.
    const line = /control plane: +CHANGEFLOW_SERVER=(\S+) CHANGEFLOW_TOKEN=(\S+) npx changeflow triggers list/.exec(stdout);
    expect(line).not.toBeNull();
    const listed = await promisify(execFile)(process.execPath, [bin, 'triggers', 'list', '--json'], {
      env: { ...process.env, CHANGEFLOW_SERVER: line?.[1], CHANGEFLOW_TOKEN: line?.[2] },
    });
    expect(Array.isArray(JSON.parse(listed.stdout))).toBe(true);

    const stopAsked = Date.now();
    proc.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 20_000)))]);
    clearTimeout(timer);
    if (code !== 0) throw new Error(`changeflow dev did not exit 0 within 20 s of SIGINT (got ${String(code)})${show()}`);
    expect(code).toBe(0);
    expect(stderr).toContain('stopped.');
    // The last line of the live view (stdout is not a terminal: one line every few seconds, one at the end).
    expect(stdout).toMatch(/\[demo\] generator 600 .* health /);
    console.log(`changeflow dev stopped ${Date.now() - stopAsked} ms after SIGINT; ${docs.length} documents, ${deletes} deletes audited`);
  });
});
