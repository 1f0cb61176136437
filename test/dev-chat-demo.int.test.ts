import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient, type Document } from 'mongodb';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { chatDemoConfig } from '../cli/demo/chat.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

/** `changeflow dev --demo chat`: the seed's chat example with its two views and a tail of their feeds. */
const bin = join(process.cwd(), 'bin', 'changeflow.js');
const infra = testInfra();
const db = uniqueName('chat').replace(/[^A-Za-z0-9_-]/g, '_');
const stateDir = mkdtempSync(join(tmpdir(), 'changeflow-chat-demo-'));
const mongo = new MongoClient(infra.mongodb);
let child: ChildProcess | undefined;

const sorted = (rows: Document[]): string[] =>
  rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b))))).sort();

beforeAll(() => mongo.connect());
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  for (const name of [db, `${db}_views`, `${db}_meta`])
    await mongo
      .db(name)
      .dropDatabase()
      .catch(() => undefined);
  await mongo.close();
  const admin = createKafkajsTransport({ brokers: [infra.kafka] }).admin();
  await admin.connect();
  const topics = (await admin.listTopics()).filter((t) => t.includes(db));
  if (topics.length > 0) await admin.deleteTopics(topics).catch(() => undefined);
  await admin.disconnect();
  rmSync(stateDir, { recursive: true, force: true });
});

it('keeps messages per chat and messages with sender names, tails their feeds, and stops on SIGTERM', async () => {
  const env = { ...process.env, KAFKA_BROKERS: infra.kafka, MONGODB_URI: infra.mongodb, CHANGEFLOW_STATE_DIR: stateDir };
  const proc = spawn(process.execPath, [bin, 'dev', '--demo', 'chat', '--demo-db', db, '--metadata-db', `${db}_meta`, '--rate', '40', '--writes', '40'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const show = (): string => `\n--- stdout\n${stdout.slice(-3000)}\n--- stderr\n${stderr.slice(-3000)}`;
  await eventually(() => stdout.includes('changeflow dev --demo chat is running') || proc.exitCode !== null, `the demo to start${show()}`, 90_000, 200);
  const pipelines = Object.fromEntries(
    chatDemoConfig({ db, kafka: '', mongodb: '', metadataDb: '', httpPort: 1, grpcPort: 1 }).views?.map((v) => [v.target.coll, v.pipeline]) ?? [],
  );
  const converged = async (coll: string): Promise<boolean> => {
    const [expected, actual] = await Promise.all([
      mongo
        .db(db)
        .collection('messages')
        .aggregate(pipelines[coll] as Document[])
        .toArray(),
      mongo.db(`${db}_views`).collection(coll).find({}).toArray(),
    ]);
    return expected.length > 0 && JSON.stringify(sorted(expected)) === JSON.stringify(sorted(actual));
  };
  // 40 writes: inserts, soft deletes and renames of users (every tenth).
  await eventually(async () => (await mongo.db(db).collection('messages').countDocuments()) >= 30, `the generator's writes${show()}`, 60_000, 200);
  await new Promise((r) => setTimeout(r, 1_500));
  await eventually(() => converged('messages_per_chat'), `messages_per_chat == aggregate()${show()}`, 60_000, 250);
  await eventually(() => converged('messages_with_names'), `messages_with_names == aggregate()${show()}`, 60_000, 250);
  expect(stdout).toMatch(new RegExp(`\\[${db}-per-chat\\] (insert|replace) +\\{"_id":"general","messages":`));
  // A rename of a user reached messages already written: a replace with the new name.
  await eventually(() => /\[[^\]]+-with-names\] replace +\{[^\n]*"sender":"[A-Za-z]+ \(\d+\)"/.test(stdout), `a rename in the feed tail${show()}`, 30_000, 200);
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(stderr).toContain('stopped.');
});
