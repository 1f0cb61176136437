import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { startApp, type RunningApp } from '../../core/app.js';
import { compileConfig } from '../../app/config.js';
import { errorMessage } from '../../core/errors.js';
import { infraHealthy, readInfraState, startInfra, stopInfra, type InfraState } from '../../core/infra/infra.js';
import { canConnect, freePort, waitFor } from '../../core/infra/net.js';
import { defaultStateDir } from '../../core/infra/paths.js';
import { redisAnswers } from '../../core/infra/redis-server.js';
import { createLogger, type Logger } from '../../core/logger.js';
import { createMetricsRegistry } from '../../core/metrics.js';
import { componentFactories } from '../../app/components.js';
import { describeKafkaClients } from '../kafka-clients.js';
import { banner } from './banner.js';
import { demoConfig, demoNames, type DemoNames } from './config.js';
import { DemoGenerator } from './generator.js';
import type { DevOptions } from './options.js';
import { demoTargets, readSnapshot } from './stats.js';
import { LiveView } from './view.js';

async function portOr(preferred: number): Promise<number> {
  return (await canConnect('127.0.0.1', preferred, 300)) ? freePort() : preferred;
}

export interface DemoSessionIo {
  out: NodeJS.WriteStream;
  /** Progress and notices for the person watching (stderr). */
  note: (line: string) => void;
}

/** How long the generator waits for the source to fix its start position before writing anyway. */
const SOURCE_START_TIMEOUT_MS = 60_000;

/**
 * `changeflow dev`: local servers, the service with the demo pipeline, the generator and the live
 * view. `stop()` may be called at any time, also while `start()` is still running: it waits for the
 * step in progress and undoes what was done, in reverse.
 */
export class DemoSession {
  private readonly undo: { what: string; run: () => Promise<void> }[] = [];
  private starting: Promise<void> | undefined;
  private stopping = false;
  /** Servers this session started (and so kills on a forced stop). */
  private ownedInfra: InfraState | null = null;
  app: RunningApp | undefined;
  view: LiveView | undefined;
  names: DemoNames | undefined;

  constructor(
    private readonly options: DevOptions,
    private readonly io: DemoSessionIo,
  ) {}

  start(): Promise<void> {
    this.starting ??= this.run();
    return this.starting;
  }

  /** Stops the view, the generator, the service and (unless kept or not ours) the local servers. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.starting?.catch(() => undefined);
    for (const step of this.undo.splice(0).reverse()) {
      await step.run().catch((error: unknown) => this.io.note(`could not stop ${step.what}: ${errorMessage(error)}`));
    }
  }

  /** Second Ctrl-C: kill the servers we started at once (no Java left behind), without waiting for anything else. */
  forceStop(): void {
    for (const pid of Object.values(this.ownedInfra?.pids ?? {})) {
      if (typeof pid !== 'number') continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }

  private async run(): Promise<void> {
    const { options, io } = this;
    const stateDir = defaultStateDir();
    const before = readInfraState(stateDir);
    const reused = before !== null && (await infraHealthy(before));
    const infra = await startInfra({ stateDir, onProgress: io.note });
    const keepInfra = options.keepInfra || reused;
    if (!keepInfra) {
      this.ownedInfra = infra;
      this.undo.push({ what: 'the local servers', run: async () => void (await stopInfra({ stateDir })) });
    }
    if (this.stopping) return;

    const redisOk = infra.redis !== null && (await redisAnswers(infra.redis));
    const redis = redisOk ? infra.redis : null;
    const redisProblem = infra.redis === null ? 'no REDIS_URL, nothing on 127.0.0.1:6379 and no redis-server binary' : `${infra.redis} does not answer`;
    const httpPort = options.httpPort ?? (await portOr(8080));
    const grpcPort = options.grpcPort ?? (await portOr(50051));
    const names = (this.names = demoNames(options.demoDb));
    // A fresh token per run: the dev control plane listens on loopback, but still only for whoever saw the banner.
    const token = `dev-${randomBytes(18).toString('base64url')}`;
    const raw = demoConfig({ names, kafka: infra.kafka, mongodb: infra.mongodb, redis, metadataDb: options.metadataDb, httpPort, grpcPort, token });
    // The infrastructure already honoured KAFKA_BROKERS / MONGODB_URI / REDIS_URL; the demo config is final.
    const config = compileConfig(raw, {});
    mkdirSync(stateDir, { recursive: true });
    const configFile = join(stateDir, `${names.db}.changeflow.yaml`);
    writeFileSync(configFile, `# written by \`changeflow dev\`: the demo pipeline as a config file\n${stringify(raw)}`);

    const tty = io.out.isTTY === true;
    const logFile = tty ? join(stateDir, 'dev.log') : null;
    const logger: Logger = createLogger({
      level: process.env['LOG_LEVEL'] ?? (tty ? 'info' : 'warn'),
      destination: logFile ? pino.destination({ dest: logFile, sync: true, mkdir: true }) : pino.destination(2),
    });

    const client = new MongoClient(infra.mongodb, { serverSelectionTimeoutMS: 10_000 });
    await client.connect();
    this.undo.push({ what: 'the demo MongoDB client', run: () => client.close() });
    const registry = createMetricsRegistry();
    const generator = new DemoGenerator(client.db(names.db).collection(names.coll), registry, {
      rate: options.rate,
      ...(options.writes === undefined ? {} : { maxWrites: options.writes }),
      onError: (message) => logger.warn(message),
    });
    // Before the service starts, so the source's initial snapshot has something to copy.
    await generator.seed(options.initial);
    if (this.stopping) return;

    const app = (this.app = await startApp(config, componentFactories(), { logger, metrics: registry }));
    this.undo.push({ what: 'the service', run: () => app.stop() });
    if (this.stopping) return;
    // The source fixes its start position a moment after the service is up (lease, stored offsets,
    // cluster time); a write before that is in no change stream, so the generator waits for it.
    const positioned = await waitFor(
      async () => {
        const detail = app.context.health.report().components[`source:${names.source}`]?.detail;
        return this.stopping || detail === 'snapshot' || detail === 'streaming';
      },
      SOURCE_START_TIMEOUT_MS,
      100,
    );
    if (this.stopping) return;
    if (!positioned)
      logger.warn(`source "${names.source}" did not report its start position within ${SOURCE_START_TIMEOUT_MS / 1000} s; starting the generator anyway`);

    let generatorNote = options.generator ? '' : 'off (--no-generator)';
    if (options.generator) {
      generator.start();
      this.undo.push({ what: 'the generator', run: () => generator.stop() });
      void generator.done().then(() => {
        if (options.writes !== undefined && generator.written >= options.writes) generatorNote = `finished after ${options.writes} writes`;
      });
    }

    io.out.write(
      banner({
        names,
        kafka: infra.kafka,
        kafkaClients: describeKafkaClients(config.kafka.client, config.kafka.producerClient),
        mongodb: infra.mongodb,
        redis,
        redisProblem,
        httpUrl: app.httpUrl,
        grpc: `${config.grpc.host}:${grpcPort}`,
        token,
        metadataDb: options.metadataDb,
        configFile,
        logFile,
        generator: options.generator
          ? `${options.rate} writes/s of inserts, updates and deletes into ${names.db}.${names.coll}${options.writes === undefined ? '' : `, ${options.writes} in all`}`
          : 'off (--no-generator): write to the collection yourself',
        keepsInfra: reused
          ? ' (the local servers were already running and keep running)'
          : options.keepInfra
            ? ' (the local servers keep running: --keep-infra)'
            : ', then the local servers',
      }) + '\n',
    );

    const targets = demoTargets(names, redis !== null);
    const view = (this.view = new LiveView({
      names,
      out: io.out,
      tty,
      read: () => readSnapshot(registry, app.context.health, names, targets),
      extras: async () => {
        const [source, copy] = await Promise.all([
          client.db(names.db).collection(names.coll).countDocuments(),
          client.db(names.copyDb).collection(names.coll).countDocuments(),
        ]);
        return {
          docs: { source, copy },
          ...(generatorNote ? { generatorNote } : {}),
          ...(redis ? {} : { redisNote: `no Redis (${redisProblem}): cache trigger not started` }),
        };
      },
    }));
    view.start();
    this.undo.push({ what: 'the live view', run: () => view.stop() });
  }
}
