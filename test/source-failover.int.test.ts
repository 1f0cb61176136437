import { ChangeWriter, tallyChanges, type WriterCollection } from '../testing/mongodb/change-writer.js';
import { ChildService } from '../testing/mongodb/child-service.js';
import { TopicReader } from '../testing/mongodb/topic-reader.js';
import { eventually } from './support/infra.js';
import { sourceChildSuite } from './support/source-children.js';

async function waitFor(check: () => boolean | Promise<boolean>, what: string, children: ChildService[], timeoutMs: number): Promise<void> {
  try {
    await eventually(check, what, timeoutMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${children.map((c, i) => `--- child ${i} ---\n${c.tail(25)}`).join('\n')}`, { cause: error });
  }
}

describe('two instances of one source: a lease keeps exactly one active; the standby takes over', () => {
  const leaseMs = 3_000;
  const { kafka, admin, client, dbName, topics, children, config } = sourceChildSuite('fo', { name: 'twin', leaseMs });
  const metaDb = config.mongodb.db;

  it('kills the active instance; the standby resumes from the checkpoint within seconds and nothing is lost', async () => {
    const topic = topics.change(dbName, 'items');
    await admin.ensureTopics([{ topic, partitions: 3 }]);
    const reader = await new TopicReader(kafka, [topic]).start();
    const leases = client.db(metaDb).collection<{ _id: string; owner: string }>('leases');

    const a = new ChildService(config).start();
    children.push(a);
    await waitFor(() => a.logs(/^streaming$/).length > 0, 'instance A streaming', children, 60_000);
    const b = new ChildService(config).start();
    children.push(b);
    await waitFor(() => b.logs(/^standby/).length > 0, 'instance B on standby', children, 60_000);
    const lease = await leases.findOne({ _id: 'source:twin' });
    expect(lease?.owner).toContain(`:${a.pid}:`);

    const writer = new ChangeWriter(client.db(dbName).collection('items') as WriterCollection).start();
    await eventually(() => reader.records.length >= 1000, 'changes flowing through instance A', 60_000);
    // While A is alive B never becomes active.
    expect(b.logs(/lease acquired/)).toHaveLength(0);

    await a.kill();
    const killedAt = Date.now();
    await waitFor(() => b.logs(/^streaming$/).length > 0, 'instance B took over', children, 60_000);
    const takeoverMs = Date.now() - killedAt;
    expect((await leases.findOne({ _id: 'source:twin' }))?.owner).toContain(`:${b.pid}:`);
    expect(b.logs(/^source starting$/)[0]?.['plan']).toBe('stream');

    const atTakeover = writer.total;
    // The test's own writer shares the MongoDB-compatible server with the rest of the suite (a 100,000-document
    // snapshot test may run beside it): its pace is not what this test measures, so it gets room.
    await eventually(() => writer.total >= atTakeover + 2000, 'writes after the takeover', 150_000);
    await writer.stop();
    await eventually(() => tallyChanges(reader.records).distinct >= writer.total, `all ${writer.total} changes in Kafka`, 120_000);

    const { distinct, seen } = tallyChanges(reader.records);
    const missing = [...writer.expected].filter(([key, count]) => (seen.get(key)?.size ?? 0) < count);
    console.log(
      `failover test: takeover ${takeoverMs} ms after kill -9 (lease ${leaseMs} ms); ${writer.total} changes, ${reader.records.length} records, ${reader.records.length - distinct} repeats, ${missing.length} missing`,
    );
    expect(missing).toEqual([]);
    expect(distinct).toBe(writer.total);
    await reader.stop();
    await b.stop();
  }, 300_000);
});
