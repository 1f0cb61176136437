import { ChildService } from '../testing/mongodb/child-service.js';
import { TopicReader } from '../testing/mongodb/topic-reader.js';
import { ChangeWriter as Writer, tallyChanges, type WriterCollection } from '../testing/mongodb/change-writer.js';
import { eventually } from './support/infra.js';
import { sourceChildSuite } from './support/source-children.js';

/** eventually(), with the child's last log lines in the failure message. */
async function waitFor(check: () => boolean, what: string, child: ChildService, timeoutMs: number, intervalMs = 100): Promise<void> {
  try {
    await eventually(check, what, timeoutMs, intervalMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- child output ---\n${child.tail(40)}`, { cause: error });
  }
}

describe('MongoDB source survives kill -9 (child process) without losing a change', () => {
  const { kafka, admin, client, dbName, topics, children, config } = sourceChildSuite('crash', { name: 'crashy' });

  it('restarts from the checkpoint: every change is in Kafka (repeats counted, none missing)', async () => {
    const topic = topics.change(dbName, 'items');
    await admin.ensureTopics([{ topic, partitions: 3 }]);
    const reader = await new TopicReader(kafka, [topic]).start();
    const coll: WriterCollection = client.db(dbName).collection('items');

    const first = new ChildService(config).start();
    children.push(first);
    // The source fixes its start position when it becomes active; writes before that are not its business (snapshot: never).
    await waitFor(() => first.logs(/^streaming$/).length > 0, `first instance streaming`, first, 60_000);
    const writer = new Writer(coll).start();
    await eventually(() => reader.records.length >= 1500, 'some changes in Kafka before the crash', 60_000);
    await first.kill();
    const atKill = reader.records.length;
    // Writes go on while nothing reads the change stream.
    await eventually(() => writer.total >= atKill + 1500, 'more writes while the source is down', 60_000);

    const second = new ChildService(config).start();
    children.push(second);
    await waitFor(() => second.logs(/^streaming$/).length > 0, `second instance streaming`, second, 60_000);
    await eventually(() => writer.total >= atKill + 4000, 'writes after the restart', 60_000);
    await writer.stop();
    const expectedTotal = writer.total;

    const tally = (): number => tallyChanges(reader.records).distinct;
    await eventually(() => tally() >= expectedTotal, `all ${expectedTotal} changes in Kafka`, 120_000, 500);

    const { distinct, seen } = tallyChanges(reader.records);
    const missing = [...writer.expected].filter(([key, count]) => (seen.get(key)?.size ?? 0) < count).map(([key]) => key);
    const repeats = reader.records.length - distinct;
    console.log(
      `kill -9 test: ${expectedTotal} changes written, ${reader.records.length} records in Kafka, ${distinct} distinct ids, ${repeats} repeats, ${missing.length} missing; killed after ${atKill} records`,
    );
    expect(missing).toEqual([]);
    expect(distinct).toBe(expectedTotal);
    // The restart resumed from a stored position rather than from "now".
    const resumed = second.logs(/^source starting$/)[0];
    expect(resumed?.['plan']).toBe('stream');
    await reader.stop();
    await second.stop();
  }, 300_000);
});
