import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startKafka } from '../../core/infra/kafka-server.js';
import { resolveJars, type ResolvedJars } from '../../core/infra/maven.js';
import { startMongo } from '../../core/infra/mongo-server.js';
import { freePort, waitFor } from '../../core/infra/net.js';
import { spawnDetached, stopProcess } from '../../core/infra/process.js';
import { redisAnswers } from '../../core/infra/redis-server.js';

/** A server process the soak owns: it may pause it, and (where its data survives) kill and restart it. */
export interface SoakServer {
  readonly name: string;
  readonly port: number;
  pid: number;
  /** Kill -9 and start again on the same port (and data dir). Absent for in-memory servers whose data a kill would lose. */
  restart?: () => Promise<void>;
}

export interface SoakServers {
  jars: ResolvedJars;
  broker: SoakServer & { brokers: string };
  a: SoakServer & { uri: string };
  b: SoakServer & { uri: string };
  /** Null: no redis-server binary; the soak then uses 127.0.0.1:6379 (if it answers) without Redis faults. */
  redis: (SoakServer & { url: string }) | null;
  stop(): Promise<void>;
}

export function pause(server: SoakServer): void {
  process.kill(server.pid, 'SIGSTOP');
}

export function resume(server: SoakServer): void {
  process.kill(server.pid, 'SIGCONT');
}

/**
 * The soak's own servers, never the machine's shared ones: a Kafka broker (KRaft) with its own data dir
 * and ports, two mongo-java-servers A and B, and a redis-server when the binary exists. mongo-java-server
 * keeps its data in memory, so A and B are only ever paused (or cut off by a proxy), never killed.
 */
export async function startSoakServers(workDir: string, log: (line: string) => void): Promise<SoakServers> {
  const jars = await resolveJars(log);
  const kafkaDir = join(workDir, 'kafka');
  mkdirSync(kafkaDir, { recursive: true });
  mkdirSync(join(workDir, 'a'), { recursive: true });
  mkdirSync(join(workDir, 'b'), { recursive: true });
  log('starting the soak servers: Kafka, mongo-java-server A and B, redis-server…');
  const [kafka, a, b] = await Promise.all([startKafka({ jars, workDir: kafkaDir }), startMongo({ jars, workDir: join(workDir, 'a') }), startMongo({ jars, workDir: join(workDir, 'b') })]);
  const broker: SoakServers['broker'] = {
    name: 'broker',
    port: kafka.port,
    pid: kafka.pid,
    brokers: kafka.brokers,
    restart: async () => {
      await stopProcess(broker.pid, 0);
      const again = await startKafka({ jars, workDir: kafkaDir, port: kafka.port, controllerPort: kafka.controllerPort });
      broker.pid = again.pid;
    },
  };
  const portOf = (uri: string): number => Number(new URL(uri.replace('mongodb://', 'http://')).port);
  const redis = await startRedis(workDir);
  return {
    jars,
    broker,
    a: { name: 'A', port: portOf(a.uri), pid: a.pid, uri: a.uri },
    b: { name: 'B', port: portOf(b.uri), pid: b.pid, uri: b.uri },
    redis,
    async stop() {
      const pids = [broker.pid, a.pid, b.pid, ...(redis ? [redis.pid] : [])];
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

async function startRedis(workDir: string): Promise<(SoakServer & { url: string }) | null> {
  if (spawnSync('redis-server', ['--version']).status !== 0) return null;
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const launch = async (): Promise<number> => {
    const pid = spawnDetached('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', workDir], join(workDir, 'redis.log'));
    if (!(await waitFor(() => redisAnswers(url), 10_000))) throw new Error(`redis-server did not answer on ${url}`);
    return pid;
  };
  const server: SoakServer & { url: string } = {
    name: 'redis',
    port,
    url,
    pid: await launch(),
    // No persistence: it comes back empty, as a cache restarted without a dump does.
    restart: async () => {
      await stopProcess(server.pid, 0);
      server.pid = await launch();
    },
  };
  return server;
}
