import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { startKafka, brokerAnswers } from './kafka-server.js';
import { resolveJars } from './maven.js';
import { startMongo, mongoAnswers } from './mongo-server.js';
import { isAlive, stopProcess } from './process.js';
import { findOrStartRedis, redisAnswers } from './redis-server.js';
import { defaultStateDir } from './paths.js';

/** What `infra start --json` prints and the state file holds. */
const infraStateSchema = z.object({
  kafka: z.string(),
  mongodb: z.string(),
  redis: z.string().nullable(),
  /** Processes we started (absent for servers given through the environment). */
  pids: z.object({ kafka: z.number().optional(), mongodb: z.number().optional(), redis: z.number().optional() }),
  stateDir: z.string(),
  startedAt: z.string(),
});
export type InfraState = z.infer<typeof infraStateSchema>;

export interface InfraOptions {
  stateDir?: string;
  /** Progress lines for a person watching (first-run Maven resolution takes a while). */
  onProgress?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

function stateFile(stateDir: string): string {
  return join(stateDir, 'infra.json');
}

export function readInfraState(stateDir = defaultStateDir()): InfraState | null {
  const file = stateFile(stateDir);
  if (!existsSync(file)) return null;
  const parsed = infraStateSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  return parsed.success ? parsed.data : null;
}

/**
 * Starts the local Kafka broker and MongoDB-compatible server (unless KAFKA_BROKERS / MONGODB_URI
 * name servers to use instead) and finds or starts Redis. Idempotent: a running set is reused.
 */
export async function startInfra(options: InfraOptions = {}): Promise<InfraState> {
  const env = options.env ?? process.env;
  const stateDir = options.stateDir ?? defaultStateDir();
  const existing = readInfraState(stateDir);
  if (existing && (await infraHealthy(existing))) return existing;
  if (existing) await stopInfra({ stateDir });

  mkdirSync(stateDir, { recursive: true });
  const progress = options.onProgress ?? (() => undefined);
  const externalKafka = env['KAFKA_BROKERS'];
  const externalMongo = env['MONGODB_URI'];
  const jars = externalKafka && externalMongo ? null : await resolveJars(progress);

  const pids: InfraState['pids'] = {};
  const started: Promise<void>[] = [];
  let kafka = externalKafka ?? '';
  let mongodb = externalMongo ?? '';
  if (!externalKafka && jars) {
    progress('Starting Kafka (KRaft, single node)…');
    started.push(
      startKafka({ jars, workDir: join(stateDir, 'kafka') }).then((k) => {
        kafka = k.brokers;
        pids.kafka = k.pid;
      }),
    );
  }
  if (!externalMongo && jars) {
    progress('Starting the MongoDB-compatible server (mongo-java-server)…');
    mkdirSync(join(stateDir, 'mongodb'), { recursive: true });
    started.push(
      startMongo({ jars, workDir: join(stateDir, 'mongodb') }).then((m) => {
        mongodb = m.uri;
        pids.mongodb = m.pid;
      }),
    );
  }
  const results = await Promise.allSettled(started);
  const redis = await findOrStartRedis(stateDir, env['REDIS_URL']);
  if (redis?.pid) pids.redis = redis.pid;
  const state: InfraState = { kafka, mongodb, redis: redis?.url ?? null, pids, stateDir, startedAt: new Date().toISOString() };
  writeFileSync(stateFile(stateDir), JSON.stringify(state, null, 2));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await stopInfra({ stateDir });
    throw failure.reason;
  }
  return state;
}

export async function infraHealthy(state: InfraState): Promise<boolean> {
  const [k, m] = await Promise.all([brokerAnswers(state.kafka), mongoAnswers(state.mongodb)]);
  return k && m;
}

export interface InfraStatus {
  state: InfraState | null;
  kafka: boolean;
  mongodb: boolean;
  redis: boolean;
}

export async function infraStatus(stateDir = defaultStateDir()): Promise<InfraStatus> {
  const state = readInfraState(stateDir);
  if (!state) return { state: null, kafka: false, mongodb: false, redis: false };
  const [kafka, mongodb, redis] = await Promise.all([
    brokerAnswers(state.kafka),
    mongoAnswers(state.mongodb),
    state.redis ? redisAnswers(state.redis) : Promise.resolve(false),
  ]);
  return { state, kafka, mongodb, redis };
}

/** Stops what `startInfra` started (never servers given through the environment) and removes their data. */
export async function stopInfra(options: { stateDir?: string; graceMs?: number } = {}): Promise<InfraState | null> {
  const stateDir = options.stateDir ?? defaultStateDir();
  const state = readInfraState(stateDir);
  const pids = state ? Object.values(state.pids).filter((p): p is number => typeof p === 'number') : [];
  await Promise.all(pids.map((pid) => stopProcess(pid, options.graceMs ?? 10_000)));
  for (const dir of ['kafka', 'mongodb']) rmSync(join(stateDir, dir), { recursive: true, force: true });
  rmSync(stateFile(stateDir), { force: true });
  return state;
}

export function runningPids(state: InfraState): number[] {
  return Object.values(state.pids).filter((p): p is number => typeof p === 'number' && isAlive(p));
}
