import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startKafka } from '../../core/infra/kafka-server.js';
import { resolveJars } from '../../core/infra/maven.js';
import { startMongo } from '../../core/infra/mongo-server.js';
import { freePort, waitFor } from '../../core/infra/net.js';
import { spawnDetached, stopProcess } from '../../core/infra/process.js';
import { redisAnswers } from '../../core/infra/redis-server.js';
import { sleep } from '../../core/retry.js';
import { mongoTarget, parseHostPort } from './soak-endpoints.js';
import type { FaultKind } from './soak-faults.js';

/** A server the soak talks to: its own (it may pause it, and where its data survives, kill it), or the user's. */
export interface SoakServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Undefined for a server the user runs (--kafka, --mongo-a, --mongo-b, --redis): the soak cannot signal it. */
  pid: number | undefined;
  /** Kill -9, wait `downMs`, and start again on the same port and data. Absent for external servers. */
  restart?: (downMs?: number) => Promise<void>;
}

/** Servers the user already runs, from the command line; each one given replaces the soak's own. */
export interface ExternalServers {
  kafka?: string | undefined;
  mongoA?: string | undefined;
  mongoB?: string | undefined;
  redis?: string | undefined;
}

export interface SoakServerOptions {
  /** A and B on H2 files (startMongo with a dataFile), so they can be killed and restarted; else in memory, never killed. */
  durableMongo: boolean;
}

export interface SoakServers {
  broker: SoakServer & { brokers: string };
  a: SoakServer & { uri: string };
  b: SoakServer & { uri: string };
  /** Null: no redis-server binary and no --redis; the soak then uses 127.0.0.1:6379 (if it answers) without Redis faults. */
  redis: (SoakServer & { url: string }) | null;
  stop(): Promise<void>;
}

export interface SkippedFault {
  kind: FaultKind;
  why: string;
}

/** The fault kinds that need a server's process, per server. */
const processFaults = {
  broker: ['broker-kill', 'pause-broker'],
  a: ['a-kill', 'pause-a'],
  b: ['b-kill', 'pause-b'],
  redis: ['redis-restart', 'pause-redis'],
} as const satisfies Record<string, readonly FaultKind[]>;

/** Kinds the soak cannot inject here, and why: kills and pauses of servers it did not start. */
export function skippedFaults(servers: SoakServers, external: ExternalServers, options: SoakServerOptions = { durableMongo: true }): SkippedFault[] {
  const flags = {
    broker: external.kafka && '--kafka',
    a: external.mongoA && '--mongo-a',
    b: external.mongoB && '--mongo-b',
    redis: external.redis && '--redis',
  };
  const out: SkippedFault[] = [];
  for (const [server, kinds] of Object.entries(processFaults) as [keyof typeof processFaults, readonly FaultKind[]][]) {
    const flag = flags[server];
    const why = flag
      ? `${flag}: a server the soak did not start, so it cannot kill or pause its process (proxy faults still apply where a proxy sits in front of it: A and B)`
      : server === 'redis' && !servers.redis
        ? 'no redis-server binary: the soak uses 127.0.0.1:6379, which it must not kill or pause'
        : undefined;
    if (why) for (const kind of kinds) out.push({ kind, why });
    else if ((server === 'a' || server === 'b') && !options.durableMongo) {
      out.push({
        kind: `${server}-kill`,
        why: 'A and B keep their data in memory, which a kill would lose: --kill-mongo puts them on H2 files and kills them too (docs/reliability.md)',
      });
    }
  }
  return out;
}

export function pause(server: SoakServer): void {
  if (server.pid === undefined) throw new Error(`${server.name} is not the soak's own server: it cannot be paused`);
  process.kill(server.pid, 'SIGSTOP');
}

export function resume(server: SoakServer): void {
  if (server.pid !== undefined) process.kill(server.pid, 'SIGCONT');
}

/**
 * The servers of the soak: its own by default, never the machine's shared ones — a Kafka broker
 * (KRaft) with its own data dir and ports, two mongo-java-servers A and B, and a redis-server when the
 * binary exists — or, per server, one the user names (`external`). A and B keep their data in memory
 * (never killed), or with `durableMongo` in H2 files (startMongo with a dataFile), so they too can be killed.
 */
export async function startSoakServers(
  workDir: string,
  log: (line: string) => void,
  external: ExternalServers = {},
  options: SoakServerOptions = { durableMongo: true },
): Promise<SoakServers> {
  const own = [
    !external.kafka && 'Kafka',
    !external.mongoA && 'mongo-java-server A',
    !external.mongoB && 'mongo-java-server B',
    !external.redis && 'redis-server',
  ].filter(Boolean);
  if (own.length > 0) log(`starting the soak servers: ${own.join(', ')}…`);
  const jars = own.some((s) => s !== 'redis-server') ? await resolveJars(log) : undefined;
  const jarsOrThrow = (): NonNullable<typeof jars> => {
    if (!jars) throw new Error('the jars were not resolved');
    return jars;
  };
  const kafkaDir = join(workDir, 'kafka');
  const startBroker = async (): Promise<SoakServers['broker']> => {
    if (external.kafka) {
      const at = parseHostPort(external.kafka, '--kafka');
      return { name: 'broker', ...at, pid: undefined, brokers: external.kafka };
    }
    mkdirSync(kafkaDir, { recursive: true });
    const kafka = await startKafka({ jars: jarsOrThrow(), workDir: kafkaDir });
    const broker: SoakServers['broker'] = {
      name: 'broker',
      host: '127.0.0.1',
      port: kafka.port,
      pid: kafka.pid,
      brokers: kafka.brokers,
      restart: async (downMs = 0) => {
        if (broker.pid !== undefined) await stopProcess(broker.pid, 0);
        await sleep(downMs);
        const again = await startKafka({ jars: jarsOrThrow(), workDir: kafkaDir, port: kafka.port, controllerPort: kafka.controllerPort });
        broker.pid = again.pid;
      },
    };
    return broker;
  };
  const startMongoServer = async (name: 'A' | 'B', uri: string | undefined, flag: string): Promise<SoakServers['a']> => {
    if (uri) return { name, ...mongoTarget(uri, flag), pid: undefined, uri };
    const dir = join(workDir, name.toLowerCase());
    mkdirSync(dir, { recursive: true });
    if (!options.durableMongo) {
      const memory = await startMongo({ jars: jarsOrThrow(), workDir: dir });
      return { name, ...mongoTarget(memory.uri, flag), pid: memory.pid, uri: memory.uri };
    }
    const durable = { jars: jarsOrThrow(), workDir: dir, dataFile: join(dir, 'data.mv.db') };
    const first = await startMongo(durable);
    const server: SoakServers['a'] = {
      name,
      host: '127.0.0.1',
      port: first.port,
      pid: first.pid,
      uri: first.uri,
      restart: async (downMs = 0) => {
        if (server.pid !== undefined) await stopProcess(server.pid, 0);
        await sleep(downMs);
        server.pid = (await startMongo({ ...durable, port: first.port })).pid;
      },
    };
    return server;
  };
  const [broker, a, b] = await Promise.all([
    startBroker(),
    startMongoServer('A', external.mongoA, '--mongo-a'),
    startMongoServer('B', external.mongoB, '--mongo-b'),
  ]);
  const redis = external.redis ? await userRedis(external.redis) : await startRedis(workDir);
  return {
    broker,
    a,
    b,
    redis,
    async stop() {
      const pids = [broker.pid, a.pid, b.pid, redis?.pid].filter((pid): pid is number => pid !== undefined);
      // A paused process ignores SIGTERM until it runs again.
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          /* gone */
        }
      }
      await Promise.all(pids.map((pid) => stopProcess(pid, 3_000)));
    },
  };
}

async function userRedis(url: string): Promise<SoakServer & { url: string }> {
  const parsed = new URL(url);
  if (!(await redisAnswers(url))) throw new Error(`--redis: nothing answers at ${url}`);
  return { name: 'redis', host: parsed.hostname, port: Number(parsed.port || 6379), pid: undefined, url };
}

async function startRedis(workDir: string): Promise<(SoakServer & { url: string }) | null> {
  if (spawnSync('redis-server', ['--version']).status !== 0) return null;
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const launch = async (): Promise<number> => {
    const pid = spawnDetached(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', workDir],
      join(workDir, 'redis.log'),
    );
    if (!(await waitFor(() => redisAnswers(url), 10_000))) throw new Error(`redis-server did not answer on ${url}`);
    return pid;
  };
  const server: SoakServer & { url: string } = {
    name: 'redis',
    host: '127.0.0.1',
    port,
    url,
    pid: await launch(),
    // No persistence: it comes back empty, as a cache restarted without a dump does.
    restart: async (downMs = 0) => {
      if (server.pid !== undefined) await stopProcess(server.pid, 0);
      await sleep(downMs);
      server.pid = await launch();
    },
  };
  return server;
}
