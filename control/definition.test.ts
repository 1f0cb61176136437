import { Binary } from 'mongodb';
import { isRunnable, toDefinition } from './definition.js';
import { compileConfig } from '../app/config.js';
import type { FunctionDoc, TriggerDoc } from './documents.js';
import { TenantPolicy } from './tenant-policy.js';

const now = new Date(0);
const trigger = (over: Partial<TriggerDoc> = {}): TriggerDoc => ({
  _id: '665f1c2e9b1d4a0012345678',
  user_id: 'team-a',
  name: 'orders',
  trigger_type: 1,
  function_id: 'f1',
  enabled: true,
  config: {
    database: { data_source: 'mongodb://h', database: 'shop', collection: 'orders', operation_types: [1, 4], match: '{"op":"insert"}', unordered: true },
  },
  sinks: [{ name: 'cache', kind: 'redis', options: { keyPrefix: 'o' } }],
  created_at: now,
  updated_at: now,
  ...over,
});
const fn: FunctionDoc = {
  _id: 'f1',
  user_id: 'team-a',
  name: 'to-cache',
  function_type: 2,
  func: { javascript: 'export default (e) => e' },
  memory_mib: 16,
  timeout_ms: 200,
  created_at: now,
  updated_at: now,
};
const options = { scheduleTopic: (key: string) => `cf.__schedule.${key}` };

describe('toDefinition', () => {
  it('maps a stored DATABASE trigger and its function to what the processors run', () => {
    expect(toDefinition(trigger(), fn, options)).toEqual({
      key: 'api.team-a.orders.665f1c2e9b1d4a0012345678',
      userId: 'team-a',
      name: 'orders',
      source: { db: 'shop', coll: 'orders' },
      operationTypes: ['insert', 'delete'],
      match: { op: 'insert' },
      function: 'to-cache',
      functionCode: { name: 'to-cache', code: 'export default (e) => e', memoryMiB: 16, timeoutMs: 200 },
      sinks: [{ keyPrefix: 'o', name: 'cache', kind: 'redis' }],
      batch: { maxSize: 500, maxWaitMs: 100 },
      ordering: 'unordered',
      retry: { attempts: 5, initialDelayMs: 200, maxDelayMs: 10_000 },
      enabled: true,
    });
  });

  it('uses a topic, a whole database, or the schedule topic as the source', () => {
    const topic = toDefinition(
      trigger({ config: { database: { data_source: '', database: '', collection: '', operation_types: [], topic: 'ext.orders' } } }),
      fn,
      options,
    );
    expect(isRunnable(topic) && topic.source).toEqual({ topic: 'ext.orders' });
    const wholeDb = toDefinition(trigger({ config: { database: { data_source: '', database: 'shop', collection: '', operation_types: [] } } }), fn, options);
    expect(isRunnable(wholeDb) && [wholeDb.source, wholeDb.operationTypes]).toEqual([{ db: 'shop' }, undefined]);
    const scheduled = toDefinition(trigger({ trigger_type: 3, config: { scheduled: { schedule: '* * * * *' } } }), fn, options);
    expect(isRunnable(scheduled) && scheduled.source).toEqual({ topic: 'cf.__schedule.api.team-a.orders.665f1c2e9b1d4a0012345678' });
  });

  it('passes events through without a function, and refuses what cannot run', () => {
    const passThrough = toDefinition(trigger({ function_id: '' }), undefined, options);
    expect(isRunnable(passThrough) && passThrough.functionCode).toBeUndefined();
    expect(toDefinition(trigger(), undefined, options)).toEqual({ reason: 'its function f1 does not exist' });
    expect(toDefinition(trigger(), { ...fn, function_type: 1, func: {} }, options)).toEqual({ reason: 'its function "to-cache" has no code of its type 1' });
    expect(toDefinition(trigger({ trigger_type: 2, config: { authentication: {} } }), fn, options)).toMatchObject({
      reason: expect.stringContaining('AUTHENTICATION'),
    });
  });

  it('carries a WebAssembly function as base64 of its module bytes, with its limits', () => {
    const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const wasm = toDefinition(trigger(), { ...fn, function_type: 1, func: { wasm: new Binary(bytes) }, memory_mib: 16, timeout_ms: 200 }, options);
    expect(isRunnable(wasm) && wasm.functionCode).toEqual({ name: fn.name, wasmBase64: Buffer.from(bytes).toString('base64'), memoryMiB: 16, timeoutMs: 200 });
  });

  it("runs a stored trigger as its owner's rules allow: its own source's topic and audit collection, or not at all", () => {
    const policy = TenantPolicy.fromConfig(compileConfig({ kafka: { brokers: ['k:9092'] }, mongodb: { uri: 'mongodb://meta:27017', db: 'changeflow' } }, {}));
    const withPolicy = { ...options, plan: (doc: TriggerDoc) => policy.plan(policy.ownerOf(doc.user_id), doc) };
    const own = toDefinition(trigger({ sinks: [{ name: 'a', kind: 'audit', options: {} }] }), fn, withPolicy);
    expect(isRunnable(own) && [own.source, own.sinks]).toEqual([
      { topic: expect.stringMatching(/^changeflow\.ds-[0-9a-f]{24}$/) },
      [{ name: 'a', kind: 'audit', collection: 'audit.team-a' }],
    ]);
    const meta = toDefinition(trigger({ sinks: [{ name: 'm', kind: 'mongodb', options: { uri: 'mongodb://meta:27017', db: 'changeflow' } }] }), fn, withPolicy);
    expect(meta).toEqual({
      reason: expect.stringMatching(/^not allowed for user "team-a": trigger\.sinks\[0\]\.options_json\.db: "changeflow" is the metadata store/),
    });
  });
});
