import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient, type Collection } from 'mongodb';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { componentFactories } from '../../app/components.js';
import { compileConfig, type ConfigInput } from '../../app/config.js';
import { startApp } from '../../core/app.js';
import { errorMessage } from '../../core/errors.js';
import { infraHealthy, readInfraState, startInfra, stopInfra } from '../../core/infra/infra.js';
import { freePort, waitFor } from '../../core/infra/net.js';
import { defaultStateDir } from '../../core/infra/paths.js';
import { createKafkaTransport } from '../../core/kafka/index.js';
import { createLogger } from '../../core/logger.js';
import { fromEJson } from '../../schemas/ejson.js';
import { parseChangeEvent } from '../../schemas/envelope.js';
import type { DemoSessionIo } from './session.js';
import type { DevOptions } from './options.js';

/**
 * `changeflow dev --demo chat`: the seed's chat example (users, chats, messages) with two views kept
 * from the change feeds — messages per chat (`$group`) and messages with sender names (`$lookup`) —
 * and a tail of their change feeds on stdout. The generator posts messages, soft-deletes some and
 * renames users (each rename updates every message of that user in the second view).
 */
export function chatDemoConfig(options: { db: string; kafka: string; mongodb: string; metadataDb: string; httpPort: number; grpcPort: number }): ConfigInput {
  const { db } = options;
  return {
    kafka: { brokers: [options.kafka] },
    mongodb: { uri: options.mongodb, db: options.metadataDb },
    http: { port: options.httpPort },
    grpc: { port: options.grpcPort },
    // One source per collection (a database watch works on MongoDB, but mongo-java-server's events of one carry no namespace).
    sources: ['users', 'messages'].map((coll) => ({
      name: `${db}-${coll}`,
      uri: options.mongodb,
      watch: { db, coll },
      snapshot: 'initial',
      checkpointIntervalMs: 500,
    })),
    views: [
      {
        name: `${db}-per-chat`,
        source: { db, coll: 'messages' },
        pipeline: [{ $match: { deleted: { $ne: true } } }, { $group: { _id: '$chat', messages: { $sum: 1 }, lastAt: { $max: '$at' } } }],
        target: { db: `${db}_views`, coll: 'messages_per_chat' },
      },
      {
        name: `${db}-with-names`,
        source: { db, coll: 'messages' },
        pipeline: [
          { $match: { deleted: { $ne: true } } },
          { $lookup: { from: 'users', localField: 'sender', foreignField: '_id', as: 'from' } },
          { $project: { chat: 1, text: 1, sender: { $arrayElemAt: ['$from.name', 0] } } },
        ],
        target: { db: `${db}_views`, coll: 'messages_with_names' },
      },
    ],
  };
}

/** The demo's documents have string ids. */
type Doc = { _id: string; [field: string]: unknown };

const NAMES = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken'];
const CHATS = ['general', 'random', 'ops'];
const WORDS = ['hello', 'deploy done', 'lunch?', 'on it', 'ship it', 'coffee'];

export class ChatDemo {
  private readonly undo: { what: string; run: () => Promise<void> }[] = [];
  private starting: Promise<void> | undefined;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private written = 0;

  constructor(
    private readonly options: DevOptions,
    private readonly io: DemoSessionIo,
  ) {}

  start(): Promise<void> {
    this.starting ??= this.run();
    return this.starting;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.starting?.catch(() => undefined);
    for (const step of this.undo.splice(0).reverse())
      await step.run().catch((error: unknown) => this.io.note(`could not stop ${step.what}: ${errorMessage(error)}`));
  }

  forceStop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async run(): Promise<void> {
    const { options, io } = this;
    const db = options.demoDb === 'demo' ? 'chat' : options.demoDb;
    const stateDir = defaultStateDir();
    const before = readInfraState(stateDir);
    const reused = before !== null && (await infraHealthy(before));
    const infra = await startInfra({ stateDir, onProgress: io.note });
    if (!options.keepInfra && !reused) this.undo.push({ what: 'the local servers', run: async () => void (await stopInfra({ stateDir })) });
    if (this.stopping) return;
    const raw = chatDemoConfig({
      db,
      kafka: infra.kafka,
      mongodb: infra.mongodb,
      metadataDb: options.metadataDb,
      httpPort: options.httpPort ?? (await freePort()),
      grpcPort: options.grpcPort ?? (await freePort()),
    });
    const config = compileConfig(raw, {});
    mkdirSync(stateDir, { recursive: true });
    const configFile = join(stateDir, `${db}.changeflow.yaml`);
    writeFileSync(configFile, `# written by \`changeflow dev --demo chat\`\n${stringify(raw)}`);
    const logFile = join(stateDir, 'dev-chat.log');
    const logger = createLogger({ level: process.env['LOG_LEVEL'] ?? 'info', destination: pino.destination({ dest: logFile, sync: true, mkdir: true }) });

    const client = new MongoClient(infra.mongodb, { serverSelectionTimeoutMS: 10_000 });
    await client.connect();
    this.undo.push({ what: 'the demo MongoDB client', run: () => client.close() });
    const users = client.db(db).collection<Doc>('users');
    const messages = client.db(db).collection<Doc>('messages');
    // The seed: users and chats before the service starts (the sources' initial snapshot copies them).
    for (const [i, name] of NAMES.entries()) await users.replaceOne({ _id: `u${i}` }, { name }, { upsert: true });
    for (const chat of CHATS)
      await client
        .db(db)
        .collection<Doc>('chats')
        .replaceOne({ _id: chat }, { title: `#${chat}` }, { upsert: true });
    if (this.stopping) return;

    const app = await startApp(config, componentFactories(), { logger });
    this.undo.push({ what: 'the service', run: () => app.stop() });
    const views = config.views.map((v) => v.name);
    // A write before a source fixed its start position would be in no change stream: wait for both.
    const ready = (): boolean => {
      const components = app.context.health.report().components;
      const positioned = config.sources.every((s) => ['snapshot', 'streaming'].includes(components[`source:${s.name}`]?.detail ?? ''));
      return positioned && views.every((v) => components[`view:${v}`]?.ok === true);
    };
    await waitFor(async () => this.stopping || ready(), 60_000, 100);
    if (this.stopping) return;
    await this.tailFeeds(
      infra.kafka,
      views.map((v) => app.context.topics.prefix + '.view.' + v),
    );
    io.out.write(
      [
        'changeflow dev --demo chat is running',
        `  sources    ${db}.users, ${db}.messages (config: ${configFile}, log: ${logFile})`,
        `  views      ${views[0]} → ${db}_views.messages_per_chat ($group), ${views[1]} → ${db}_views.messages_with_names ($lookup users)`,
        `  feeds      ${views.map((v) => `${app.context.topics.prefix}.view.${v}`).join(', ')} (tailed below)`,
        `  generator  ${options.generator ? `${options.rate} writes/s into ${db}.messages (and a rename of a user now and then)` : 'off'}; Ctrl-C stops`,
        '',
      ].join('\n'),
    );
    if (options.generator) this.startGenerator(users, messages);
  }

  private startGenerator(users: Collection<Doc>, messages: Collection<Doc>): void {
    const { rate, writes } = this.options;
    let next = 0;
    this.timer = setInterval(
      () => {
        if (writes !== undefined && this.written >= writes) {
          if (this.timer) clearInterval(this.timer);
          return;
        }
        this.written++;
        const n = next++;
        const write =
          n % 10 === 9
            ? users.updateOne({ _id: `u${n % NAMES.length}` }, { $set: { name: `${NAMES[n % NAMES.length] ?? 'x'} (${n})` } })
            : n % 7 === 6
              ? messages.updateOne({ _id: `m${n - 3}` }, { $set: { deleted: true } })
              : messages.insertOne({
                  _id: `m${n}`,
                  chat: CHATS[n % CHATS.length],
                  sender: `u${(n * 3) % NAMES.length}`,
                  text: WORDS[n % WORDS.length],
                  at: new Date(),
                });
        void write.catch((error: unknown) => this.io.note(`demo write failed: ${errorMessage(error)}`));
      },
      Math.max(1, Math.round(1000 / rate)),
    );
    this.undo.push({ what: 'the generator', run: async () => void (this.timer && clearInterval(this.timer)) });
  }

  /** Prints every record of the views' feeds: `[view] op key → row`. */
  private async tailFeeds(brokers: string, topics: string[]): Promise<void> {
    const kafka = createKafkaTransport('kafkajs', { brokers: [brokers], clientId: 'changeflow-dev-chat' });
    const consumer = kafka.consumer({ groupId: `changeflow-dev-chat-tail-${process.pid}-${Date.now()}`, fromBeginning: true });
    await consumer.connect();
    await consumer.subscribe(topics);
    await consumer.run(async (batch) => {
      for (const record of batch.records) {
        if (!record.value) continue;
        const event = parseChangeEvent(record.value);
        const row = event.fullDocument ? JSON.stringify(fromEJson(event.fullDocument)) : JSON.stringify(fromEJson(event.documentKey ?? {}));
        this.io.out.write(`[${batch.topic.split('.view.')[1] ?? batch.topic}] ${event.op.padEnd(7)} ${row}\n`);
      }
    });
    this.undo.push({ what: 'the feed tail', run: () => consumer.disconnect() });
  }
}
