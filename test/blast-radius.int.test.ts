import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { stringify } from 'yaml';
import { ControlClient } from '../control/client.js';
import type { FunctionDoc, TriggerDoc } from '../control/documents.js';
import { ownSource } from '../control/tenant-sources.js';
import { triggerKey } from '../control/trigger-key.js';
import type { HealthReport } from '../core/health.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { freePort } from '../core/infra/net.js';

/**
 * Issue 16 item 5 and 6 as `changeflow run` meets them: one source's oversized document, a tenant's
 * oversized document and a tenant's broken stored triggers each stay the failing part's problem. The
 * process keeps running (no exit, no crash loop), `/healthz` stays 200, `/readyz` is 503 only for the
 * instance's own components, and every other pipeline keeps delivering.
 */
const bin = fileURLToPath(new URL('../bin/changeflow.js', import.meta.url));
const infra = testInfra();
const BIG = 3 * 1024 * 1024;
const bigDoc = (id: string): { _id: string; blob: string } => ({ _id: id, blob: 'x'.repeat(BIG) });

interface Running {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote so far (JSON log lines on stdout, messages on stderr). */
  output(): string;
  stop(): Promise<number | null>;
}

/** `changeflow run` on `config` in a child process, once it says where its HTTP server listens. */
async function run(config: object): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'blast-'));
  const file = join(dir, 'changeflow.yaml');
  writeFileSync(file, stringify(config));
  const child = spawn(process.execPath, [bin, 'run', '--config', file], { env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => rmSync(dir, { recursive: true, force: true }));
  await eventually(() => /changeflow running: http (http:\/\/[\d.]+:\d+)/.test(output) || child.exitCode !== null, 'changeflow run to start', 90_000, 100);
  const url = /changeflow running: http (http:\/\/[\d.]+:\d+)/.exec(output)?.[1];
  if (!url) throw new Error(`changeflow run did not start:\n${output.slice(-4000)}`);
  return {
    child,
    url,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

async function health(url: string, path: '/healthz' | '/readyz'): Promise<{ code: number; body: HealthReport }> {
  const res = await fetch(`${url}${path}`);
  return { code: res.status, body: (await res.json()) as HealthReport };
}

describe('one config source stopped by a 3 MB document (oversized: fail)', () => {
  const prefix = uniqueName('cfblast');
  const metaDb = uniqueName('blast-meta');
  const srcDb = uniqueName('blast-src');
  const copyDb = uniqueName('blast-copy');
  let mongo: MongoClient;
  let service: Running | undefined;
  const config = {
    kafka: { brokers: infra.kafka.split(','), partitions: 1, topicPrefix: prefix },
    mongodb: { uri: infra.mongodb, db: metaDb },
    http: { host: '127.0.0.1', port: 0 },
    grpc: { host: '127.0.0.1', port: 0 },
    sources: [
      { name: 'big', uri: infra.mongodb, watch: { db: srcDb, coll: 'big' } },
      { name: 'good', uri: infra.mongodb, watch: { db: srcDb, coll: 'good' } },
    ],
    triggers: [
      {
        name: 'copy-good',
        source: { db: srcDb, coll: 'good' },
        sinks: [{ name: 'copy', kind: 'mongodb', uri: infra.mongodb, db: copyDb }],
        batch: { maxSize: 50, maxWaitMs: 20 },
      },
    ],
  };

  beforeAll(async () => {
    mongo = await MongoClient.connect(infra.mongodb);
  });

  afterAll(async () => {
    await service?.stop();
    for (const db of [metaDb, srcDb, copyDb, `${copyDb}-ops`])
      await mongo
        ?.db(db)
        .dropDatabase()
        .catch(() => undefined);
    await mongo?.close();
  });

  it('keeps the process and the other pipeline running; /healthz 200, /readyz 503 naming the source and why; a restart stops at the same event', async () => {
    service = await run(config);
    const { url } = service;
    await eventually(
      async () => (await health(url, '/readyz')).code === 200,
      'the instance ready (both sources streaming, the trigger consuming)',
      90_000,
      200,
    );
    const good = mongo.db(srcDb).collection<{ _id: string; n: number }>('good');
    const copies = mongo.db(copyDb).collection('good');
    await good.insertMany(Array.from({ length: 5 }, (_, n) => ({ _id: `before-${n}`, n })));
    await eventually(async () => (await copies.countDocuments()) === 5, 'the good pipeline delivering before the failure', 60_000, 200);

    const failedAt = performance.now();
    await mongo.db(srcDb).collection<{ _id: string; blob: string }>('big').insertOne(bigDoc('huge'));
    let readyz: { code: number; body: HealthReport } | undefined;
    await eventually(
      async () => {
        readyz = await health(url, '/readyz');
        return readyz.body.components['source:big']?.state === 'failed';
      },
      '/readyz to show source:big failed',
      60_000,
      100,
    );
    const toHealthMs = performance.now() - failedAt;
    const big = readyz?.body.components['source:big'];
    expect(readyz?.code).toBe(503);
    expect(readyz?.body).toMatchObject({ ready: false, unready: ['source:big'] });
    expect(big).toMatchObject({ ok: false, state: 'failed', owner: 'instance' });
    const detail = big?.detail ?? '';
    const pattern =
      /^source "big": change \S+ \(insert\) of document \{"_id":"huge"\} in [\w.-]+\.big is ([\d,]+) bytes, more than maxRecordBytes \(1,000,000\)\. Set oversized: dlq to route such events to \S+\.__dlq\.source\.big, or raise maxRecordBytes.*; stopped with its position kept \(stream (after token|at cluster time) .+\) until its config changes or the process restarts$/;
    expect(detail).toMatch(pattern);
    const sized = pattern.exec(detail);
    const bytes = Number(sized?.[1]?.replaceAll(',', ''));
    expect(bytes).toBeGreaterThan(BIG);
    expect(bytes).toBeLessThan(BIG + 4_096);

    const live = await health(url, '/healthz');
    expect(live.code).toBe(200);
    expect(live.body.components['source:big']?.state).toBe('failed');

    // The other source and trigger deliver what is written after the failure.
    const after = 20;
    const deliverFrom = performance.now();
    await good.insertMany(Array.from({ length: after }, (_, n) => ({ _id: `after-${n}`, n })));
    await eventually(
      async () => (await copies.countDocuments({ _id: { $regex: '^after-' } } as never)) === after,
      'the good pipeline delivering after the failure',
      60_000,
      200,
    );
    const deliverMs = performance.now() - deliverFrom;
    expect(service.child.exitCode).toBeNull();
    expect((await health(url, '/readyz')).body.components['source:good']).toMatchObject({ ok: true, state: 'running' });
    console.log(
      `oversized (fail): ${bytes.toLocaleString('en-US')} bytes seen; /readyz showed source:big failed ${toHealthMs.toFixed(0)} ms after the insert; ` +
        `the other pipeline delivered ${after}/${after} events inserted after the failure in ${deliverMs.toFixed(0)} ms; process still running`,
    );
    console.log(`source:big detail: ${detail}`);

    // A restart is no crash loop and does not skip the event: the source resumes before it and stops on it again.
    expect(await service.stop()).toBe(0);
    service = await run(config);
    const restarted = service.url;
    await eventually(
      async () => (await health(restarted, '/readyz')).body.components['source:big']?.state === 'failed',
      'source:big failed again after the restart',
      90_000,
      200,
    );
    const again = (await health(restarted, '/readyz')).body.components['source:big']?.detail ?? '';
    expect(again.replace(/; stopped with .*$/, '')).toBe(detail.replace(/; stopped with .*$/, ''));
    await good.insertOne({ _id: 'after-restart', n: 0 });
    await eventually(
      async () => (await copies.countDocuments({ _id: 'after-restart' } as never)) === 1,
      'the good pipeline delivering after the restart',
      60_000,
      200,
    );
    expect((await health(restarted, '/healthz')).code).toBe(200);
    expect(service.child.exitCode).toBeNull();
  }, 360_000);
});

describe("tenants' failures are theirs: an oversized document and broken stored triggers", () => {
  const prefix = uniqueName('cfblastt');
  const metaDb = uniqueName('blast-tmeta');
  const srcDb = uniqueName('blast-tsrc');
  const copyDb = uniqueName('blast-tcopy');
  const TENANT = 'tenant-t-token-0123456789';
  const ADMIN = 'admin-token-blast-0123456789';
  let mongo: MongoClient;
  let service: Running | undefined;
  let client: ControlClient | undefined;
  const now = new Date();
  const sink = { name: 'copy', kind: 'mongodb', options: { uri: infra.mongodb, db: copyDb } };
  const badMatch: TriggerDoc = {
    _id: 'aaaaaaaaaaaaaaaaaaaaaaa1',
    user_id: 'team-t',
    name: 'bad-match',
    trigger_type: 1,
    function_id: '',
    enabled: true,
    // Stored before filters were validated at create.
    config: { database: { data_source: infra.mongodb, database: srcDb, collection: 'x', operation_types: [1], match: '{"a":{"$foo":1}}' } },
    sinks: [sink],
    created_at: now,
    updated_at: now,
  };
  const notAFunction: FunctionDoc = {
    _id: 'bbbbbbbbbbbbbbbbbbbbbbb1',
    user_id: 'team-t',
    name: 'not-a-function',
    function_type: 2,
    func: { javascript: 'export default 42;' },
    created_at: now,
    updated_at: now,
  };
  const badFunction: TriggerDoc = {
    ...badMatch,
    _id: 'aaaaaaaaaaaaaaaaaaaaaaa2',
    name: 'bad-function',
    function_id: notAFunction._id,
    config: { database: { data_source: infra.mongodb, database: srcDb, collection: 'y', operation_types: [1] } },
  };
  // An admin's API trigger is runtime data as much as a tenant's: were it the instance's, one bad
  // definition would take every instance out of service (and the control plane behind the load
  // balancer with it, so the admin could not even fix it).
  const adminBadMatch: TriggerDoc = {
    ...badMatch,
    _id: 'aaaaaaaaaaaaaaaaaaaaaaa3',
    user_id: 'ops',
    name: 'admin-bad-match',
    // Its own copy database: the one team-t writes would be the operator's once an admin's trigger used it.
    sinks: [{ ...sink, options: { ...sink.options, db: `${copyDb}-ops` } }],
  };

  beforeAll(async () => {
    mongo = await MongoClient.connect(infra.mongodb);
    await mongo.db(metaDb).collection<TriggerDoc>('triggers').insertMany([badMatch, badFunction, adminBadMatch]);
    await mongo.db(metaDb).collection<FunctionDoc>('functions').insertOne(notAFunction);
  });

  afterAll(async () => {
    client?.close();
    await service?.stop();
    for (const db of [metaDb, srcDb, copyDb, `${copyDb}-ops`])
      await mongo
        ?.db(db)
        .dropDatabase()
        .catch(() => undefined);
    await mongo?.close();
  });

  it("leaves /readyz 200 with each broken trigger failed in its own entry (logged once), and dead-letters a tenant source's 3 MB document and goes on", async () => {
    const grpcPort = await freePort();
    service = await run({
      kafka: { brokers: infra.kafka.split(','), partitions: 1, topicPrefix: prefix },
      mongodb: { uri: infra.mongodb, db: metaDb },
      http: { host: '127.0.0.1', port: 0 },
      grpc: { host: '127.0.0.1', port: grpcPort },
      auth: {
        tokens: [
          { token: TENANT, userId: 'team-t' },
          { token: ADMIN, userId: 'ops', admin: true },
        ],
      },
    });
    const { url } = service;
    const matchKey = `processor:${triggerKey(badMatch)}`;
    const fnKey = `processor:${triggerKey(badFunction)}`;
    const adminKey = `processor:${triggerKey(adminBadMatch)}`;
    const startedAt = performance.now();
    let ready: { code: number; body: HealthReport } | undefined;
    await eventually(
      async () => {
        ready = await health(url, '/readyz');
        return [matchKey, fnKey, adminKey].every((key) => ready?.body.components[key]?.state === 'failed');
      },
      'the three broken triggers shown failed',
      60_000,
      200,
    );
    console.log(`broken tenant triggers shown failed in /readyz ${(performance.now() - startedAt).toFixed(0)} ms after startup; /readyz ${ready?.code}`);
    expect(ready?.code).toBe(200);
    expect(ready?.body).toMatchObject({ ready: true, unready: [] });
    expect(ready?.body.components[matchKey]).toMatchObject({ ok: false, state: 'failed', owner: 'tenant:team-t', detail: expect.stringContaining('$foo') });
    expect(ready?.body.components[fnKey]).toMatchObject({
      ok: false,
      state: 'failed',
      owner: 'tenant:team-t',
      detail: expect.stringMatching(/not-a-function.*not retried until the trigger or its function changes/),
    });
    expect(ready?.body.components[adminKey]).toMatchObject({ ok: false, state: 'failed', owner: 'tenant:ops', detail: expect.stringContaining('$foo') });
    console.log(`bad-match: ${ready?.body.components[matchKey]?.detail}`);
    console.log(`bad-function: ${ready?.body.components[fnKey]?.detail}`);
    expect((await health(url, '/healthz')).code).toBe(200);

    // A tenant's own source dead-letters a 3 MB document (oversized: dlq for control-plane sources) and keeps going.
    client = new ControlClient(`127.0.0.1:${grpcPort}`, TENANT);
    await client.call('triggers', 'create', {
      trigger: {
        name: 'orders-copy',
        trigger_type: 1,
        database: { data_source: infra.mongodb, database: srcDb, collection: 'orders', operation_types: [1] },
        enabled: true,
        sinks: [{ name: 'copy', kind: 'mongodb', options_json: JSON.stringify({ uri: infra.mongodb, db: copyDb }) }],
        batch: { max_size: 10, max_wait_ms: 10 },
      },
    });
    const sourceKey = `source:${ownSource(prefix, 'team-t', { dataSource: infra.mongodb, db: srcDb, coll: 'orders' }).name}`;
    await eventually(async () => (await health(url, '/readyz')).body.components[sourceKey]?.detail === 'streaming', 'the tenant source streaming', 60_000, 200);
    const orders = mongo.db(srcDb).collection<{ _id: string; blob?: string; n?: number }>('orders');
    await orders.insertOne(bigDoc('huge'));
    await orders.insertMany(Array.from({ length: 5 }, (_, n) => ({ _id: `small-${n}`, n })));
    const copies = mongo.db(copyDb).collection('orders');
    await eventually(
      async () => (await copies.countDocuments({ _id: { $regex: '^small-' } } as never)) === 5,
      'the tenant pipeline delivering past the oversized document',
      60_000,
      200,
    );
    expect(await copies.countDocuments({ _id: 'huge' } as never)).toBe(0);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const name = sourceKey.slice('source:'.length);
    expect(metrics).toMatch(new RegExp(`changeflow_source_dead_letters_total\\{source="${name}"\\} 1`));
    const after = await health(url, '/readyz');
    expect(after.code).toBe(200);
    expect(after.body.components[sourceKey]).toMatchObject({ ok: true, state: 'running', owner: 'tenant:team-t' });
    console.log(`tenant source ${name}: the 3 MB document dead-lettered, 5/5 later events delivered, /readyz ${after.code}`);

    // Not retried every few seconds: one log line per broken trigger, however long it stays broken.
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    const lines = service.output().split('\n');
    const failures = (key: string): number =>
      lines.filter((l) => l.includes(key.slice('processor:'.length)) && /cannot run|applying trigger failed/.test(l)).length;
    console.log(
      `log lines about the broken triggers after ${((performance.now() - startedAt) / 1000).toFixed(0)} s: bad-match ${failures(matchKey)}, bad-function ${failures(fnKey)}`,
    );
    expect(failures(matchKey)).toBe(1);
    expect(failures(fnKey)).toBe(1);
    expect(service.child.exitCode).toBeNull();
  }, 240_000);
});
