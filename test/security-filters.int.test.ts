import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { MongoClient } from 'mongodb';
import { stringify } from 'yaml';
import { ControlClient } from '../control/client.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { freePort } from '../core/infra/net.js';

// Issue 16 item 1 ("filters are data, never code") and item 6's invalid match, against `changeflow run` as a tenant uses it.
const bin = fileURLToPath(new URL('../bin/changeflow.js', import.meta.url));
const infra = testInfra();
const TOKENS = { tenantB: 'tenant-b-token-0123456789', admin: 'admin-token-0123456789ab' };
const WHERE_ATTACK = '{"$where":"(process.getBuiltinModule(\\"fs\\").writeFileSync(\\"pwned.txt\\", String(process.pid)), true)"}';

type CliResult = { code: number; stdout: string; stderr: string };

function cli(args: string[], env: Record<string, string>, cwd: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe("a tenant's match is data, never code (changeflow run, real gRPC control plane)", () => {
  const db = uniqueName('sec-filters');
  const dir = mkdtempSync(join(tmpdir(), 'sec-filters-'));
  let service: ChildProcess | undefined;
  let address = '';
  let tenant: ControlClient;
  let serviceLog = '';

  beforeAll(async () => {
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    const config = {
      kafka: { brokers: [infra.kafka] },
      mongodb: { uri: infra.mongodb, db: `${db}-meta` },
      http: { port: 0 },
      grpc: { port },
      auth: {
        tokens: [
          { token: TOKENS.tenantB, userId: 'tenant-b' },
          { token: TOKENS.admin, userId: 'ops', admin: true },
        ],
      },
    };
    writeFileSync(join(dir, 'changeflow.yaml'), stringify(config));
    // The service's working directory is where the attack would write pwned.txt.
    service = spawn(process.execPath, [bin, 'run', '--config', 'changeflow.yaml'], {
      cwd: dir,
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    service.stderr?.on('data', (d: Buffer) => (serviceLog += d.toString()));
    tenant = new ControlClient(address, TOKENS.tenantB, { deadlineMs: 5_000 });
    await eventually(
      () =>
        tenant.stream('triggers', 'query', {}).then(
          () => true,
          () => false,
        ),
      `changeflow run answering gRPC on ${address} (log: ${serviceLog})`,
      60_000,
      500,
    );
  }, 90_000);

  afterAll(async () => {
    tenant?.close();
    if (service && service.exitCode === null) {
      const exited = new Promise((r) => service?.once('exit', r));
      service.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (service.exitCode === null) service.kill('SIGKILL');
    }
    const mongo = new MongoClient(infra.mongodb);
    await mongo.connect();
    await mongo
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
    await mongo
      .db(`${db}-meta`)
      .dropDatabase()
      .catch(() => undefined);
    await mongo.close();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('refuses the $where attack as written with INVALID_ARGUMENT, and no file appears after an insert', async () => {
    const env = { CHANGEFLOW_SERVER: address, CHANGEFLOW_TOKEN: TOKENS.tenantB };
    const created = await cli(['triggers', 'create', 'pwn', '--db', db, '--coll', 'orders', '--sink', 'a:audit', '--match', WHERE_ATTACK], env, dir);
    expect(created.code).toBe(1);
    expect(created.stderr).toMatch(/trigger\.database\.match: operator \$where is not allowed \(filters are data, never code; allowed: \$eq /);

    const refused = await tenant
      .call('triggers', 'create', {
        trigger: {
          name: 'pwn-direct',
          trigger_type: 1,
          enabled: true,
          database: { database: db, collection: 'orders', match: WHERE_ATTACK },
          sinks: [{ name: 'a', kind: 'audit', options_json: '' }],
        },
      })
      .then(
        () => undefined,
        (error: grpc.ServiceError) => error,
      );
    expect(refused?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(refused?.details).toMatch(/operator \$where is not allowed/);
    expect(await tenant.stream('triggers', 'query', {})).toEqual([]);

    const mongo = new MongoClient(infra.mongodb);
    await mongo.connect();
    try {
      await mongo
        .db(db)
        .collection('orders')
        .insertOne({ _id: 1 as never, qty: 1 });
    } finally {
      await mongo.close();
    }
    await new Promise((r) => setTimeout(r, 3_000));
    expect(existsSync(join(dir, 'pwned.txt'))).toBe(false);
    expect(existsSync('pwned.txt')).toBe(false);
    expect(service?.exitCode).toBeNull();
  }, 60_000);

  it('refuses an invalid match {"a":{"$foo":1}} at create, naming the operator and its path', async () => {
    const refused = await tenant
      .call('triggers', 'create', {
        trigger: {
          name: 'bad-match',
          trigger_type: 1,
          enabled: true,
          database: { database: db, collection: 'orders', match: '{"a":{"$foo":1}}' },
          sinks: [{ name: 'a', kind: 'audit', options_json: '' }],
        },
      })
      .then(
        () => undefined,
        (error: grpc.ServiceError) => error,
      );
    expect(refused?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(refused?.details).toMatch(/^trigger\.database\.match\.a: operator \$foo is not allowed \(unknown operator; allowed: /);
  }, 30_000);

  it('run --check rejects a config whose trigger has an invalid match', async () => {
    const file = join(dir, 'bad.yaml');
    const trigger = { name: 'orders', source: { db: 'shop', coll: 'orders' }, match: { a: { $foo: 1 } }, sinks: [{ name: 'a', kind: 'audit' }] };
    writeFileSync(file, stringify({ kafka: { brokers: ['127.0.0.1:9092'] }, triggers: [trigger] }));
    const checked = await cli(['run', '--check', '--config', file], {}, dir);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toMatch(/triggers\[0\]\.match\.a: operator \$foo is not allowed/);
    writeFileSync(file, stringify({ kafka: { brokers: ['127.0.0.1:9092'] }, triggers: [{ ...trigger, operationTypes: ['explode'] }] }));
    const ops = await cli(['run', '--check', '--config', file], {}, dir);
    expect(ops.code).toBe(1);
    expect(ops.stderr).toMatch(/triggers\[0\]\.operationTypes\[0\]: "explode" is not an operation type; allowed: insert, update, replace, delete/);
  }, 30_000);
});
