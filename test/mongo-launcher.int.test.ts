import { MongoClient, Timestamp, type ChangeStream, type Document } from 'mongodb';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveJars } from '../core/infra/maven.js';
import { startMongo } from '../core/infra/mongo-server.js';
import { stopProcess } from '../core/infra/process.js';
import { eventually } from './support/infra.js';

/** Reads `stream` until `count` events came or it has been quiet for `quietMs`. */
async function readEvents(stream: ChangeStream, count: number, quietMs: number): Promise<Document[]> {
  const events: Document[] = [];
  let quietSince = Date.now();
  while (events.length < count && Date.now() - quietSince < quietMs) {
    const event = await stream.tryNext();
    if (event) {
      events.push(event);
      quietSince = Date.now();
    } else {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return events;
}

const idOf = (event: Document): unknown => (event['documentKey'] as { _id?: unknown } | undefined)?._id;

// The test MongoDB (infra/java/MongoLauncher.java) keeps its oplog in a timestamp-ordered map and caps
// it like a replica set. This runs its own server with a small cap, whatever MONGODB_URI points at.
describe('mongo-java-server launcher: capped, indexed oplog', () => {
  const CAP = 1_000;
  const WRITES = 6_000;
  let pid: number | null = null;
  let client: MongoClient;

  beforeAll(async () => {
    const server = await startMongo({ jars: await resolveJars(), workDir: mkdtempSync(join(tmpdir(), 'changeflow-launcher-')), oplogMaxEntries: CAP });
    pid = server.pid;
    client = new MongoClient(server.uri);
    await client.connect();
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    if (pid !== null) await stopProcess(pid, 5_000);
  });

  it(`streams every change while writing, then keeps only the newest ${CAP} entries`, async () => {
    const coll = client.db('launcher').collection<{ _id: number }>('docs');
    const live = coll.watch([], { batchSize: 1_000 });
    await live.tryNext(); // opens the stream before the first write
    const reading = readEvents(live, WRITES, 10_000);
    for (let i = 0; i < WRITES; i += 100) await coll.insertMany(Array.from({ length: 100 }, (_, j) => ({ _id: i + j })));
    const seen = await reading;
    await live.close();
    expect(seen.map(idOf)).toEqual(Array.from({ length: WRITES }, (_, i) => i));

    // The trimmer runs every 5 s; afterwards a stream from the beginning of time finds only the newest entries.
    let fromStart: Document[] = [];
    await eventually(
      async () => {
        const stream = coll.watch([], { startAtOperationTime: new Timestamp({ t: 1, i: 0 }), batchSize: 2_000 });
        fromStart = await readEvents(stream, WRITES, 1_000);
        await stream.close();
        return fromStart.length <= CAP;
      },
      'the oplog trimmed to its cap',
      30_000,
      500,
    );
    expect(fromStart.map(idOf)).toEqual(Array.from({ length: CAP }, (_, i) => WRITES - CAP + i));
  }, 120_000);
});
