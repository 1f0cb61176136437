import { MongoClient } from 'mongodb';
import { compileConfig } from '../../app/config.js';
import { eventSyncComponentFactory, type EventSyncComponent } from '../../connectors/eventsync/component.js';
import { startApp, type RunningApp } from '../../core/app.js';
import { silentLogger } from '../../core/logger.js';
import { createMetricsRegistry } from '../../core/metrics.js';
import { ControlClient } from '../../control/client.js';
import { createControlPlane, type ControlPlane } from '../../control/component.js';
import { ProcessorManager } from '../../processors/manager.js';
import { makeChangeEvent } from '../../testing/processors/events.js';
import { dropMemoryBucket, memoryBucket, memorySinkKind, type MemoryBucket } from '../../testing/processors/memory-sink.js';
import { testInfra, uniqueName } from './infra.js';
import { produceEvents } from './processor-kafka.js';

/** Two tenants and an admin, by bearer token. */
export const CONSOLE_TOKENS = { alice: 'alice-console-token-0123456789', bob: 'bob-console-token-0123456789ab', admin: 'admin-console-token-0123456789' };

/** Markup a hostile tenant writes into a document: the console must show it as text and never run it. */
export const HOSTILE_NOTE = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>';

/** Throws for an order marked `poison` (a dead letter); FIXED_CODE is the corrected version, applied before a redrive. */
export const BUGGY_CODE = `export default function handle(events) {
  return events.map((e) => {
    if (e.fullDocument.poison) throw new Error('cannot price order ' + e.fullDocument.seq.$numberInt);
    return { sink: 'out', op: 'set', key: 'order:' + e.fullDocument.seq.$numberInt, value: { seq: Number(e.fullDocument.seq.$numberInt) } };
  });
}`;
export const FIXED_CODE = BUGGY_CODE.replace(
  "throw new Error('cannot price order ' + e.fullDocument.seq.$numberInt)",
  "return { sink: 'out', op: 'set', key: 'order:' + e.fullDocument.seq.$numberInt, value: { fixed: true } }",
);

export interface TenantTrigger {
  id: string;
  functionId: string;
  name: string;
  bucket: MemoryBucket;
  topic: string;
}

/**
 * The service as the console meets it: processors with an in-memory sink, the control plane (gRPC
 * and /api/ + /console/ on the HTTP server), and one trigger per tenant reading its own topic.
 */
export class ConsoleService {
  readonly prefix = uniqueName('cfcon');
  /** EventSync services to run beside the console (changeflow.yaml's `eventsync:`), none by default. */
  constructor(private readonly eventsync: readonly Record<string, unknown>[] = []) {}
  eventSync: EventSyncComponent | null = null;
  private readonly dbName = uniqueName('console');
  private readonly buckets: string[] = [];
  app!: RunningApp;
  plane!: ControlPlane;
  readonly clients: ControlClient[] = [];

  get url(): string {
    return this.app.httpUrl;
  }

  async start(): Promise<void> {
    const infra = testInfra();
    const config = compileConfig({
      kafka: { brokers: [infra.kafka], topicPrefix: this.prefix },
      mongodb: { uri: infra.mongodb, db: this.dbName },
      http: { port: 0, host: '127.0.0.1' },
      grpc: { port: 0 },
      auth: {
        tokens: [
          { token: CONSOLE_TOKENS.alice, userId: 'alice' },
          { token: CONSOLE_TOKENS.bob, userId: 'bob' },
          { token: CONSOLE_TOKENS.admin, userId: 'ops', admin: true },
        ],
      },
      eventsync: this.eventsync,
      // Granted by the operator; the tests produce these topics' events themselves (no source runs here).
      sources: [
        { name: 'alice-orders', uri: infra.mongodb, watch: { db: 'alice_shop', coll: 'orders' }, readers: ['alice'] },
        { name: 'bob-orders', uri: infra.mongodb, watch: { db: 'bob_shop', coll: 'orders' }, readers: ['bob'] },
      ],
    });
    const processors = new ProcessorManager([], { extraSinkKinds: [memorySinkKind], topicRefreshMs: 0 });
    this.plane = createControlPlane(config, {
      sinkKinds: () => [memorySinkKind],
      controller: () => processors,
      ensureSource: false,
      scheduler: false,
      consoleTrend: { intervalMs: 500 },
      eventSync: () => this.eventSync?.list() ?? [],
    });
    this.app = await startApp(config, [() => processors, () => this.plane, () => (this.eventSync = eventSyncComponentFactory(config))], {
      logger: silentLogger,
      metrics: createMetricsRegistry({ defaultMetrics: false }),
    });
  }

  client(user: keyof typeof CONSOLE_TOKENS): ControlClient {
    const client = new ControlClient(this.plane.address, CONSOLE_TOKENS[user]);
    this.clients.push(client);
    return client;
  }

  /** A function and an enabled trigger of `user` on `<db>.orders`, writing to its own memory bucket. */
  async createTrigger(user: 'alice' | 'bob', name: string, db: string): Promise<TenantTrigger> {
    const client = this.client(user);
    const bucketName = uniqueName(`${user}-bucket`);
    this.buckets.push(bucketName);
    const fn = (
      await client.call<{ function: Record<string, unknown> }>('functions', 'create', {
        function: { name: `${name}-fn`, function_type: 2, javascript: BUGGY_CODE },
      })
    ).function;
    const trigger = (
      await client.call<{ trigger: Record<string, unknown> }>('triggers', 'create', {
        trigger: {
          name,
          trigger_type: 1,
          database: { data_source: '', database: db, collection: 'orders', operation_types: [1, 2] },
          function_id: fn['id'],
          enabled: true,
          sinks: [{ name: 'out', kind: 'memory', options_json: JSON.stringify({ bucket: bucketName }) }],
          batch: { max_size: 20, max_wait_ms: 20 },
        },
      })
    ).trigger;
    return { id: String(trigger['id']), functionId: String(fn['id']), name, bucket: memoryBucket(bucketName), topic: `${this.prefix}.${db}.orders` };
  }

  /** Orders `from`…`to - 1` on the trigger's topic; those in `poison` make the buggy function throw. */
  async produce(trigger: TenantTrigger, from: number, to: number, poison: readonly number[] = []): Promise<void> {
    const [db, coll] = trigger.topic.slice(this.prefix.length + 1).split('.') as [string, string];
    const events = Array.from({ length: to - from }, (_, i) =>
      makeChangeEvent({
        db,
        coll,
        docId: from + i,
        seq: from + i,
        fields: poison.includes(from + i) ? { poison: true, note: HOSTILE_NOTE } : { poison: false },
      }),
    );
    await produceEvents(this.app.context.kafka, trigger.topic, events);
  }

  async fixFunction(user: 'alice' | 'bob', trigger: TenantTrigger): Promise<void> {
    await this.client(user).call('functions', 'update', { id: trigger.functionId, javascript: FIXED_CODE });
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    await this.app?.stop();
    for (const name of this.buckets) dropMemoryBucket(name);
    const infra = testInfra();
    const admin = this.app?.context.kafka.admin();
    if (admin) {
      await admin.connect().catch(() => undefined);
      await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(this.prefix))).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
    const mongo = new MongoClient(infra.mongodb);
    await mongo.connect();
    await mongo
      .db(this.dbName)
      .dropDatabase()
      .catch(() => undefined);
    await mongo.close();
  }
}

/** A JSON call to the service's /api/ with an optional bearer token. */
export async function apiCall(
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
