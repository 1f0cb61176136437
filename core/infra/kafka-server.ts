import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ChangeflowError } from '../errors.js';
import type { ResolvedJars } from './maven.js';
import { freePort, waitFor } from './net.js';
import { spawnDetached, stopProcess } from './process.js';

export interface KafkaServerInfo {
  pid: number;
  brokers: string;
  port: number;
  controllerPort: number;
  dataDir: string;
  logFile: string;
}

export interface KafkaServerOptions {
  jars: ResolvedJars;
  /** Folder for config, data and log of this broker. */
  workDir: string;
  partitions?: number;
  readyTimeoutMs?: number;
  /** Listen on these ports (default: free ones), e.g. to restart a broker on its data dir where clients expect it. */
  port?: number;
  controllerPort?: number;
}

function serverProperties(port: number, controllerPort: number, dataDir: string, partitions: number): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `log.dirs=${dataDir}`,
    `num.partitions=${partitions}`,
    'default.replication.factor=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=true',
    'log.flush.interval.messages=9223372036854775807',
    'message.max.bytes=10485760',
    '',
  ].join('\n');
}

export async function brokerAnswers(brokers: string, timeoutMs = 2_000): Promise<boolean> {
  const admin = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING, connectionTimeout: timeoutMs, retry: { retries: 0 } }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Formats a fresh KRaft log dir and starts a single-node broker+controller. Resolves once metadata requests answer. */
export async function startKafka(options: KafkaServerOptions): Promise<KafkaServerInfo> {
  const { jars, workDir } = options;
  const dataDir = join(workDir, 'kafka-data');
  mkdirSync(dataDir, { recursive: true });
  const port = options.port ?? (await freePort());
  let controllerPort = options.controllerPort ?? (await freePort());
  while (controllerPort === port) controllerPort = await freePort();
  const propsFile = join(workDir, 'server.properties');
  writeFileSync(propsFile, serverProperties(port, controllerPort, dataDir, options.partitions ?? 3));
  const log4j = join(jars.infraDir, 'log4j2.properties');
  const javaArgs = [
    '-Xms256m',
    '-Xmx1g',
    '-XX:+UseG1GC',
    `-Dchangeflow.workDir=${workDir}`,
    `-Dlog4j2.configurationFile=${log4j}`,
    '-Dkafka.logs.dir=' + join(workDir, 'logs'),
    '-cp',
    jars.classpath,
  ];

  // A KRaft cluster id is a UUID in URL-safe base64 (22 characters).
  const clusterId = randomBytes(16).toString('base64url');
  // A restart on the same data dir keeps its cluster id: formatting again with a new one is refused.
  const formatted = existsSync(join(dataDir, 'meta.properties'));
  const format = formatted
    ? { status: 0, stderr: '', stdout: '' }
    : spawnSync('java', [...javaArgs, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', propsFile, '--ignore-formatted'], {
        encoding: 'utf8',
      });
  if (format.status !== 0) {
    throw new ChangeflowError(`Formatting the Kafka log dir failed (exit ${format.status}):\n${format.stderr || format.stdout}`, {
      code: 'KAFKA_FORMAT_FAILED',
    });
  }

  const logFile = join(workDir, 'kafka.log');
  const pid = spawnDetached('java', [...javaArgs, 'kafka.Kafka', propsFile], logFile);
  const brokers = `127.0.0.1:${port}`;
  const ready = await waitFor(() => brokerAnswers(brokers), options.readyTimeoutMs ?? 90_000, 300);
  if (!ready) {
    await stopProcess(pid, 0);
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '';
    throw new ChangeflowError(`Kafka did not answer on ${brokers} in time. Its log ends with:\n${tail}`, { code: 'KAFKA_START_FAILED', retriable: true });
  }
  return { pid, brokers, port, controllerPort, dataDir, logFile };
}
