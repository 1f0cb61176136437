import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { startApp, type RunningApp } from '../core/app.js';
import { compileConfig } from '../app/config.js';
import { silentLogger } from '../core/logger.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { createControlPlane, type ControlPlane } from '../control/component.js';
import { RecordingTriggerController } from '../control/recording-controller.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/changeflow.js', import.meta.url));
const TOKEN = 'cli-token-0123456789abcdef';

describe('`changeflow triggers` and `changeflow functions` against the running gRPC server', () => {
  const infra = testInfra();
  const dbName = uniqueName('ctl-cli');
  const controller = new RecordingTriggerController();
  const dir = mkdtempSync(join(tmpdir(), 'cf-cli-'));
  let app: RunningApp;
  let plane: ControlPlane;

  const cli = async (args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> => {
    try {
      const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
        env: { ...process.env, CHANGEFLOW_SERVER: plane.address, CHANGEFLOW_TOKEN: TOKEN, ...env },
        timeout: 60_000,
      });
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const e = error as { stdout: string; stderr: string; code: number };
      return { stdout: e.stdout, stderr: e.stderr, code: e.code };
    }
  };

  beforeAll(async () => {
    const config = compileConfig({
      kafka: { brokers: [infra.kafka] },
      mongodb: { uri: infra.mongodb, db: dbName },
      http: { port: 0 },
      grpc: { port: 0 },
      auth: { tokens: [{ token: TOKEN, userId: 'cli-user' }] },
    });
    plane = createControlPlane(config, { controller: () => controller, sinkKinds: () => [], scheduler: false, ensureSource: false });
    app = await startApp(config, [() => plane], { logger: silentLogger, metrics: createMetricsRegistry({ defaultMetrics: false }) });
  });

  afterAll(async () => {
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
    const mongo = new MongoClient(infra.mongodb);
    await mongo.connect();
    await mongo
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await mongo.close();
  });

  it('manages a function and a trigger end to end, with tables, --json and readable errors', async () => {
    const file = join(dir, 'to-cache.js');
    writeFileSync(
      file,
      'export default function handle(events) {\n  return events.map((e) => ({ sink: "cache", op: "set", key: "o:" + e.documentKey._id, value: e.fullDocument }));\n}\n',
    );
    let r = await cli(['functions', 'create', 'to-cache', '--file', file]);
    expect(r.stdout).toMatch(/^created function "to-cache" [0-9a-f]{24}/);

    r = await cli(['functions', 'test', 'to-cache', '--events-json', '[{"op":"insert","documentKey":{"_id":7},"fullDocument":{"_id":7,"n":1}}]', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ actions: [{ sink: 'cache', op: 'set', key: 'o:7', value: { _id: 7, n: 1 } }], error: null });

    r = await cli([
      'triggers',
      'create',
      'orders-cache',
      '--db',
      'shop',
      '--coll',
      'orders',
      '--ops',
      'insert,update',
      '--function',
      'to-cache',
      '--sink',
      'cache:redis',
      '--sink',
      '{"name":"copy","kind":"mongodb","uri":"mongodb://w:s3cret@copy:27017","db":"c"}',
      '--data-source',
      'mongodb://svc:hunter2@shop-db:27017',
    ]);
    expect(r.code).toBe(0);
    const id = /([0-9a-f]{24})/.exec(r.stdout)?.[1] ?? '';
    expect(id).not.toBe('');
    await eventually(() => controller.running().some((k) => k.endsWith(id)), 'trigger applied', 15_000);

    r = await cli(['triggers', 'list']);
    const [header, row] = r.stdout.trim().split('\n');
    expect(header).toMatch(/^ID\s+NAME\s+USER\s+TYPE\s+ENABLED\s+SOURCE\s+OPS\s+FUNCTION\s+SINKS$/);
    expect(row).toMatch(
      new RegExp(`^${id}\\s+orders-cache\\s+cli-user\\s+database\\s+yes\\s+shop\\.orders\\s+insert,update\\s+[0-9a-f]{24}\\s+cache:redis copy:mongodb$`),
    );

    r = await cli(['triggers', 'disable', 'orders-cache']);
    expect(r.stdout.trim()).toBe(`disabled trigger "orders-cache" ${id}`);
    await eventually(() => !controller.running().some((k) => k.endsWith(id)), 'disable applied', 15_000);

    r = await cli(['triggers', 'get', id, '--json']);
    const got = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(got).toMatchObject({
      id,
      name: 'orders-cache',
      enabled: false,
      database: { data_source: 'mongodb://svc:***@shop-db:27017', database: 'shop', collection: 'orders', operation_types: [1, 2] },
    });
    expect(got['sinks']).toEqual([
      { name: 'cache', kind: 'redis', options: {} },
      { name: 'copy', kind: 'mongodb', options: { uri: 'mongodb://w:***@copy:27017', db: 'c' } },
    ]);
    expect(r.stdout).not.toMatch(/hunter2|s3cret/);

    r = await cli(['triggers', 'update', id, '--coll', 'invoices', '--match', '{"fullDocument.total":{"$gt":10}}']);
    expect(r.code).toBe(0);
    const stored = await app.context.metadata.db.collection('triggers').findOne({ _id: id } as never);
    expect(stored?.['config'].database).toMatchObject({
      data_source: 'mongodb://svc:hunter2@shop-db:27017',
      collection: 'invoices',
      match: '{"fullDocument.total":{"$gt":10}}',
    });

    r = await cli(['functions', 'delete', 'to-cache']);
    expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('FAILED_PRECONDITION: function "to-cache" is used by trigger(s) "orders-cache"')]);
    r = await cli(['triggers', 'create', 'bad name!', '--db', 'shop', '--sink', 'a:audit']);
    expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('INVALID_ARGUMENT: trigger.name')]);
    r = await cli(['functions', 'create', 'broken', '--code', 'export default (']);
    expect([r.code, r.stderr]).toEqual([
      1,
      expect.stringMatching(/INVALID_ARGUMENT: function\.javascript: does not compile: SyntaxError.*\(line \d+, column \d+\)/),
    ]);
    r = await cli(['triggers', 'list'], { CHANGEFLOW_TOKEN: '' });
    expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('CHANGEFLOW_TOKEN')]);
    r = await cli(['triggers', 'list', '--token', 'wrong-token-000000000000']);
    expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('UNAUTHENTICATED')]);

    r = await cli(['triggers', 'delete', 'orders-cache', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ id, name: 'orders-cache' });
    r = await cli(['functions', 'delete', 'to-cache']);
    expect(r.stdout).toMatch(/^deleted function "to-cache"/);
    r = await cli(['functions', 'list']);
    expect(r.stdout.trim()).toBe('no functions');
  }, 300_000); // fifteen CLI processes, each a cold Node start: minutes on a loaded shared host
});
