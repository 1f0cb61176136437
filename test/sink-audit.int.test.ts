import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import type { ChangeEvent } from '../schemas/envelope.js';
import { verifyAuditLog } from '../sinks/audit-chain.js';
import { auditSinkKind, auditSinkSchema } from '../sinks/audit.js';
import { records, sinkTestContext } from './support/sink.js';
import { testInfra, uniqueName } from './support/infra.js';

const run = promisify(execFile);

/** `changeflow audit verify` as a user runs it (from dist/); resolves with the exit code instead of throwing. */
async function auditVerify(args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, [join(process.cwd(), 'bin', 'changeflow.js'), 'audit', 'verify', ...args], { timeout: 60_000 });
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code?: number; stdout?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '' };
  }
}

describe('audit sink', () => {
  const infra = testInfra();
  const client = new MongoClient(infra.mongodb);
  const meta = uniqueName('audit-meta');
  const prefix = uniqueName('cfaudit');

  beforeAll(() => client.connect());
  afterAll(async () => {
    await client
      .db(meta)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  });

  it('records what an audited update changed (the delta, else the post-image) and what a replace or insert wrote', async () => {
    const context = await sinkTestContext('audit-3', { metadataDb: meta, topicPrefix: prefix });
    const collection = uniqueName('audit-updates');
    const sink = auditSinkKind.create(
      auditSinkSchema.parse({ name: 'audit', kind: 'audit', collection, publish: false, operations: ['insert', 'update', 'replace'] }),
      context.dependencies,
    );
    await sink.start();
    const base = { v: 1 as const, ns: { db: 'hr', coll: 'staff' }, source: { name: 'hr-src', cluster: 'c1' }, documentKey: { _id: 7 } };
    try {
      await sink.write(
        records([
          {
            ...base,
            id: 'u-1',
            op: 'update',
            updateDescription: {
              updatedFields: { role: 'admin', 'a.b': { $numberLong: '9007199254740993' } },
              removedFields: ['badge'],
              truncatedArrays: [{ field: 'tags', newSize: 1 }],
            },
          },
          // The embedded server publishes no delta: the record keeps the looked-up document instead.
          { ...base, id: 'u-2', op: 'update', fullDocument: { _id: 7, role: 'root' } },
          { ...base, id: 'r-1', op: 'replace', fullDocument: { _id: 7, role: 'guest' } },
          { ...base, id: 'i-1', op: 'insert', fullDocument: { _id: 8, role: 'new' } },
        ]),
      );
      const stored = client.db(meta).collection(collection);
      const byId = async (id: string) => stored.findOne({ _id: id as never }, { promoteValues: false });
      const delta = await byId('u-1');
      expect(delta?.['change']).toEqual({
        updatedFields: { role: 'admin', 'a.b': expect.objectContaining({ _bsontype: 'Long' }) },
        removedFields: ['badge'],
        truncatedArrays: [{ field: 'tags', newSize: expect.objectContaining({ value: 1 }) }],
      });
      expect(String((delta?.['change'] as { updatedFields: Record<string, unknown> }).updatedFields['a.b'])).toBe('9007199254740993');
      expect(delta?.['after']).toBeUndefined();
      expect((await byId('u-2'))?.['after']).toEqual({ _id: expect.objectContaining({ value: 7 }), role: 'root' });
      expect((await byId('u-2'))?.['change']).toBeUndefined();
      expect((await byId('r-1'))?.['after']).toEqual({ _id: expect.objectContaining({ value: 7 }), role: 'guest' });
      expect((await byId('i-1'))?.['after']).toEqual({ _id: expect.objectContaining({ value: 8 }), role: 'new' });
      expect(await verifyAuditLog(client.db(meta), collection)).toMatchObject({ ok: true, records: 4 });
    } finally {
      await sink.stop();
      await context.close();
    }
  });

  it('records deletes and a dropped collection in a hash chain that verify checks, and finds the altered record', async () => {
    const contexts = await Promise.all([
      sinkTestContext('audit-1', { metadataDb: meta, topicPrefix: prefix }),
      sinkTestContext('audit-2', { metadataDb: meta, topicPrefix: prefix }),
    ]);
    const [one, two] = contexts.map((c, i) => auditSinkKind.create(auditSinkSchema.parse({ name: 'audit', kind: 'audit' }), contexts[i]!.dependencies));
    await Promise.all([one!.start(), two!.start()]);
    let n = 0;
    const event = (op: ChangeEvent['op'], extra: Partial<ChangeEvent> = {}): ChangeEvent => ({
      v: 1,
      id: `ev-${++n}`,
      op,
      ns: { db: 'shop', coll: 'orders' },
      clusterTime: { t: 1_700_000_000 + n, i: 1 },
      wallTime: new Date(1_700_000_000_000 + n * 1000).toISOString(),
      source: { name: 'shop-src', cluster: 'c1' },
      ...extra,
    });
    try {
      const deletes = Array.from({ length: 40 }, (_, i) =>
        event('delete', {
          documentKey: { _id: { $numberInt: String(i) } },
          fullDocumentBeforeChange: { _id: { $numberInt: String(i) }, total: { $numberDecimal: '1.50' } },
        }),
      );
      const inserts = Array.from({ length: 5 }, (_, i) => event('insert', { documentKey: { _id: 100 + i }, fullDocument: { _id: 100 + i } }));
      // mongo-java-server emits no DDL events; this is the event the source publishes for a real drop.
      const drop = event('drop', { ns: { db: 'shop', coll: 'orders' } });
      const otherDb = event('delete', { ns: { db: 'billing', coll: 'invoices' }, documentKey: { _id: 1 } });
      const all = [...deletes.slice(0, 20), ...inserts, drop, otherDb];
      // Two writers append to the same stream at the same time (two processor instances).
      await Promise.all([one!.write(records(all)), two!.write(records(deletes.slice(20)))]);
      // A redelivered batch leaves no trace.
      await one!.write(records(all));

      const stored = client.db(meta).collection('audit');
      expect(await stored.countDocuments({ stream: 'shop-src/shop' })).toBe(41);
      expect(await stored.countDocuments({ stream: 'shop-src/billing' })).toBe(1);
      expect(await stored.countDocuments({ op: 'insert' })).toBe(0);
      const dropRecord = await stored.findOne({ op: 'drop' });
      expect(dropRecord).toMatchObject({ ns: { db: 'shop', coll: 'orders' }, at: drop.wallTime, source: { name: 'shop-src', cluster: 'c1' } });
      const seqs = (await stored.find({ stream: 'shop-src/shop' }).sort({ seq: 1 }).toArray()).map((r) => r['seq'] as number);
      expect(seqs).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
      expect(await verifyAuditLog(client.db(meta), 'audit')).toMatchObject({ ok: true, streams: 2, records: 42 });

      // Every record was also published to <prefix>.audit (repeats included).
      const admin = contexts[0]!.dependencies.context.kafka.admin();
      await admin.connect();
      const offsets = await admin.topicOffsets(`${prefix}.audit`);
      await admin.disconnect();
      expect(offsets.reduce((sum, p) => sum + Number(p.high), 0)).toBeGreaterThanOrEqual(42);

      const ok = await auditVerify(['--mongodb-uri', infra.mongodb, '--db', meta]);
      expect(ok.stdout).toContain('chain intact');
      expect(ok.code).toBe(0);

      // Someone edits record 17 in place: verify fails and names it.
      const altered = await stored.findOne({ stream: 'shop-src/shop', seq: 17 });
      await stored.updateOne({ stream: 'shop-src/shop', seq: 17 }, { $set: { actor: 'nobody' } });
      const broken = await auditVerify(['--mongodb-uri', infra.mongodb, '--db', meta]);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain(`stream shop-src/shop: first broken record seq 17 (id ${String(altered?.['_id'])}): content does not match its hash`);

      // Removing the last record is caught too (the stream's head remembers how far it went).
      await stored.updateOne({ stream: 'shop-src/shop', seq: 17 }, { $set: { actor: altered?.['actor'] ?? null } });
      expect((await verifyAuditLog(client.db(meta), 'audit')).ok).toBe(true);
      await stored.deleteOne({ stream: 'shop-src/shop', seq: 41 });
      expect((await verifyAuditLog(client.db(meta), 'audit')).broken).toEqual([
        expect.objectContaining({ stream: 'shop-src/shop', seq: 41, reason: expect.stringContaining('removed from the end') }),
      ]);
    } finally {
      await Promise.all([one!.stop(), two!.stop()]);
      await Promise.all(contexts.map((c) => c.close()));
      const admin = contexts[0]!.dependencies.context.kafka.admin();
      await admin.connect();
      await admin.deleteTopics([`${prefix}.audit`]).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
