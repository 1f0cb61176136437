import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { MongoClient } from 'mongodb';
import { z } from 'zod';
import { startApp, type RunningApp } from '../core/app.js';
import { compileConfig } from '../app/config.js';
import { silentLogger } from '../core/logger.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { createControlPlane, type ControlPlane } from '../control/component.js';
import { RecordingTriggerController } from '../control/recording-controller.js';
import type { SinkKind } from '../sinks/sink.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

// The trigger API's protos exactly as first published (trigger.proto gains only `syntax` and `package`),
// so the client below is what a team generating code from the original protos would have.
const SEED_TRIGGER_PROTO = `syntax = "proto3";
package trigger;
enum TriggerType { TRIGGER_TYPE_UNKNOWN = 0; TRIGGER_TYPE_DATABASE = 1; TRIGGER_TYPE_AUTHENTICATION = 2; TRIGGER_TYPE_SCHEDULED = 3; }
enum DatabaseOperationType { DATABASE_OPERATION_TYPE_UNKNOWN = 0; DATABASE_OPERATION_TYPE_INSERT = 1; DATABASE_OPERATION_TYPE_UPDATE = 2; DATABASE_OPERATION_TYPE_REPLACE = 3; DATABASE_OPERATION_TYPE_DELETE = 4; }
message DatabaseConfig { string data_source = 1; string database = 2; string collection = 3; repeated DatabaseOperationType operation_types = 4; }
message AuthenticationConfig {}
message ScheduledConfig {}
message Trigger {
  string id = 1; string user_id = 2; string name = 3; TriggerType trigger_type = 4;
  oneof trigger_config { DatabaseConfig database = 5; AuthenticationConfig authentication = 6; ScheduledConfig scheduled = 7; }
  string function_id = 8; bool enabled = 9;
}
message CreateRequest { Trigger trigger = 1; }
message CreateResponse { Trigger trigger = 1; }
message UpdateRequest { string id = 1; string function_id = 2; }
message UpdateResponse { Trigger trigger = 1; }
message EnableRequest { string id = 1; }
message EnableResponse { Trigger trigger = 1; }
message DisableRequest { string id = 1; }
message DisableResponse { Trigger trigger = 1; }
message DeleteRequest { string id = 1; }
message DeleteResponse { Trigger trigger = 1; }
message GetRequest { string id = 1; }
message GetResponse { Trigger trigger = 1; }
message TriggerQuery { string user_id = 1; string function_id = 2; string trigger_type = 3; string data_source = 4; string database = 5; string collection = 6; }
message QueryRequest { TriggerQuery query = 1; }
message QueryResponse { Trigger trigger = 1; }
service TriggerService {
  rpc create(CreateRequest) returns (CreateResponse);
  rpc update(UpdateRequest) returns (UpdateResponse);
  rpc enable(EnableRequest) returns (EnableResponse);
  rpc disable(DisableRequest) returns (DisableResponse);
  rpc delete (DeleteRequest) returns (DeleteResponse);
  rpc get(GetRequest) returns (GetResponse);
  rpc query(QueryRequest) returns (stream Trigger);
}
`;
const SEED_FUNCTION_PROTO = `syntax = "proto3";
package function;
enum FunctionType { FUNCTION_TYPE_UNKNOWN = 0; FUNCTION_TYPE_WASM = 1; }
message Function { string id = 1; string user_id = 2; string name = 3; FunctionType function_type = 4; oneof func { bytes wasm = 5; } }
message CreateRequest { Function function = 1; }
message CreateResponse { Function function = 1; }
message UpdateRequest { string id = 1; oneof func { bytes wasm = 2; } }
message UpdateResponse { Function function = 1; }
message DeleteRequest { string id = 1; }
message DeleteResponse { Function function = 1; }
message GetRequest { string id = 1; }
message GetResponse { Function function = 1; }
message FunctionQuery { string user_id = 1; string name = 2; }
message QueryRequest { FunctionQuery query = 1; }
message ExecuteRequest { string id = 1; }
message ExecuteResponse {}
service FunctionService {
  rpc create(CreateRequest) returns (CreateResponse);
  rpc update(UpdateRequest) returns (UpdateResponse);
  rpc delete (DeleteRequest) returns (DeleteResponse);
  rpc get(GetRequest) returns (GetResponse);
  rpc query(QueryRequest) returns (stream Function);
}
`;

/** The smallest valid WebAssembly module: magic and version (refused as a function: it exports no `handle`). */
const EMPTY_WASM = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
/** A runnable Extism plugin: the hand-written WAT echo of examples/wasm. */
const ECHO_WASM = readFileSync(fileURLToPath(new URL('../examples/wasm/build/wat-echo.wasm', import.meta.url)));
const TOKEN = 'seed-client-token-0123456789';
type Msg = Record<string, unknown>;

describe('a client generated from the published protos (docs/control-plane.md) works unchanged', () => {
  const infra = testInfra();
  const dbName = uniqueName('ctl-seed');
  const dir = mkdtempSync(join(tmpdir(), 'cf-seed-'));
  const controller = new RecordingTriggerController();
  const audit: SinkKind = {
    kind: 'audit',
    description: 'audit',
    configSchema: z.looseObject({ name: z.string(), kind: z.literal('audit') }),
    create: () => {
      throw new Error('not created here');
    },
  };
  let app: RunningApp;
  let plane: ControlPlane;
  let triggers: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  let functions: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  const metadata = (): grpc.Metadata => {
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${TOKEN}`);
    return m;
  };
  const call = (client: typeof triggers, method: string, request: object): Promise<Msg> =>
    new Promise((resolve, reject) => {
      const fn = client[method];
      if (!fn) return reject(new Error(`no method ${method}`));
      fn.call(client, request, metadata(), (error: grpc.ServiceError | null, reply: Msg) => (error ? reject(error) : resolve(reply)));
    });
  const stream = (client: typeof triggers, request: object): Promise<Msg[]> =>
    new Promise((resolve, reject) => {
      const items: Msg[] = [];
      const s = (client['query'] as (...args: unknown[]) => grpc.ClientReadableStream<Msg>).call(client, request, metadata());
      s.on('data', (m: Msg) => items.push(m));
      s.on('error', reject);
      s.on('end', () => resolve(items));
    });

  beforeAll(async () => {
    const config = compileConfig({
      kafka: { brokers: [infra.kafka] },
      mongodb: { uri: infra.mongodb, db: dbName },
      http: { port: 0 },
      grpc: { port: 0 },
      auth: { tokens: [{ token: TOKEN, userId: 'seed-team' }] },
    });
    plane = createControlPlane(config, { controller: () => controller, sinkKinds: () => [audit], scheduler: false, ensureSource: false });
    app = await startApp(config, [() => plane], { logger: silentLogger, metrics: createMetricsRegistry({ defaultMetrics: false }) });
    writeFileSync(join(dir, 'trigger.proto'), SEED_TRIGGER_PROTO);
    writeFileSync(join(dir, 'function.proto'), SEED_FUNCTION_PROTO);
    // Default proto-loader options (camelCase fields, enums as strings): nothing shared with the server's loading.
    const loaded = grpc.loadPackageDefinition(protoLoader.loadSync([join(dir, 'trigger.proto'), join(dir, 'function.proto')], { enums: String, oneofs: true }));
    const ctor = (pkg: string, name: string): grpc.ServiceClientConstructor => (loaded[pkg] as grpc.GrpcObject)[name] as grpc.ServiceClientConstructor;
    triggers = new (ctor('trigger', 'TriggerService'))(plane.address, grpc.credentials.createInsecure()) as typeof triggers;
    functions = new (ctor('function', 'FunctionService'))(plane.address, grpc.credentials.createInsecure()) as typeof functions;
  });

  afterAll(async () => {
    triggers?.close();
    functions?.close();
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

  it("creates, reads, queries, enables, disables, updates and deletes through the original API's messages", async () => {
    const empty = await call(functions, 'create', { function: { name: 'seed_empty', functionType: 'FUNCTION_TYPE_WASM', wasm: EMPTY_WASM } }).catch(
      (e: grpc.ServiceError) => e,
    );
    expect(empty).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('exports no function "handle"') });
    const fn = (await call(functions, 'create', { function: { name: 'seed_fn', functionType: 'FUNCTION_TYPE_WASM', wasm: ECHO_WASM } }))['function'] as Msg;
    expect(fn).toMatchObject({ name: 'seed_fn', userId: 'seed-team', functionType: 'FUNCTION_TYPE_WASM' });
    expect(Buffer.from(fn['wasm'] as Uint8Array)).toEqual(ECHO_WASM);
    expect(((await call(functions, 'get', { id: fn['id'] }))['function'] as Msg)['name']).toBe('seed_fn');
    expect((await stream(functions, { query: { name: 'seed_fn' } })).map((f) => f['id'])).toEqual([fn['id']]);

    const created = (
      await call(triggers, 'create', {
        trigger: {
          name: 'seed-trigger',
          triggerType: 'TRIGGER_TYPE_DATABASE',
          database: {
            dataSource: 'mongodb://app:pw@shop:27017',
            database: 'db_1',
            collection: 'coll_1',
            operationTypes: ['DATABASE_OPERATION_TYPE_INSERT', 'DATABASE_OPERATION_TYPE_UPDATE'],
          },
          enabled: true,
        },
      })
    )['trigger'] as Msg;
    expect(created).toMatchObject({
      name: 'seed-trigger',
      userId: 'seed-team',
      triggerType: 'TRIGGER_TYPE_DATABASE',
      enabled: true,
      triggerConfig: 'database',
      database: {
        dataSource: 'mongodb://app:***@shop:27017',
        database: 'db_1',
        collection: 'coll_1',
        operationTypes: ['DATABASE_OPERATION_TYPE_INSERT', 'DATABASE_OPERATION_TYPE_UPDATE'],
      },
    });
    const id = created['id'];
    const key = `api.seed-team.seed-trigger.${String(id)}`;
    await eventually(() => controller.running().includes(key), 'seed trigger applied', 15_000);
    // A tenant's audit sink runs in the tenant's own audit collection (docs/security.md).
    expect(controller.definitions.get(key)?.sinks).toEqual([{ name: 'audit', kind: 'audit', collection: 'audit.seed-team' }]);

    expect(((await call(triggers, 'disable', { id }))['trigger'] as Msg)['enabled']).toBe(false);
    await eventually(() => !controller.running().includes(key), 'disable applied', 15_000);
    expect(((await call(triggers, 'enable', { id }))['trigger'] as Msg)['enabled']).toBe(true);
    await eventually(() => controller.running().includes(key), 'enable applied', 15_000);

    const listed = await stream(triggers, { query: { userId: 'seed-team', database: 'db_1', collection: 'coll_1', triggerType: 'TRIGGER_TYPE_DATABASE' } });
    expect(listed.map((t) => t['id'])).toEqual([id]);
    // A WebAssembly function runs like a JavaScript one: the trigger restarts with the module as its function.
    await call(triggers, 'update', { id, functionId: fn['id'] });
    await eventually(() => controller.definitions.get(key)?.functionCode?.wasmBase64 === ECHO_WASM.toString('base64'), 'the WASM function applied', 15_000);

    expect(((await call(triggers, 'delete', { id }))['trigger'] as Msg)['id']).toBe(id);
    await eventually(() => !controller.definitions.has(key), 'delete applied', 15_000);
    await expect(call(triggers, 'get', { id })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    expect(((await call(functions, 'update', { id: fn['id'], wasm: ECHO_WASM }))['function'] as Msg)['id']).toBe(fn['id']);
    expect(((await call(functions, 'delete', { id: fn['id'] }))['function'] as Msg)['id']).toBe(fn['id']);
  });
});
