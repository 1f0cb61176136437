import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { ChangeflowError } from '../errors.js';
import type { ResolvedJars } from './maven.js';
import { freePort, waitFor } from './net.js';
import { spawnDetached, stopProcess } from './process.js';

export interface MongoServerInfo {
  pid: number;
  port: number;
  uri: string;
  logFile: string;
}

export async function mongoAnswers(uri: string, timeoutMs = 2_000): Promise<boolean> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Starts mongo-java-server (memory backend unless `dataFile`; oplog on, so change streams work) on a free port. */
export async function startMongo(options: {
  jars: ResolvedJars;
  workDir: string;
  readyTimeoutMs?: number;
  /** Oplog entries kept, as a capped oplog would (the launcher's default: 250,000). */
  oplogMaxEntries?: number;
  /**
   * The H2 backend with data and oplog in this file instead of memory, committed after every
   * command: a SIGKILLed server started again on the same port and file comes back with every
   * acknowledged write, and change streams resume (the fault soak's `--kill-mongo`).
   */
  dataFile?: string;
  /** Listen on this port (default: a free one), e.g. for a server that must come up at an address already configured. */
  port?: number;
}): Promise<MongoServerInfo> {
  const port = options.port ?? (await freePort());
  const launcher = join(options.jars.infraDir, 'java', 'MongoLauncher.java');
  const log4j = join(options.jars.infraDir, 'log4j2.properties');
  const logFile = join(options.workDir, 'mongo.log');
  const pid = spawnDetached(
    'java',
    // ZGC: G1's young-generation pauses reached 150–200 ms here once the oplog held a few hundred MB
    // (every request waits them out); with ZGC the e2e bench's p99 fell from 330 to 214 ms.
    [
      '-Xms128m',
      '-Xmx4g',
      '-XX:+UseZGC',
      `-Dchangeflow.workDir=${options.workDir}`,
      `-Dlog4j2.configurationFile=${log4j}`,
      '-cp',
      options.jars.classpath,
      launcher,
      ...(options.dataFile === undefined ? [] : ['--data-file', options.dataFile]),
      '127.0.0.1',
      String(port),
      '4.4.0',
      '9',
      ...(options.oplogMaxEntries === undefined ? [] : [String(options.oplogMaxEntries)]),
    ],
    logFile,
  );
  const uri = `mongodb://127.0.0.1:${port}/?directConnection=true`;
  if (!(await waitFor(() => mongoAnswers(uri), options.readyTimeoutMs ?? 60_000, 200))) {
    await stopProcess(pid, 0);
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '';
    throw new ChangeflowError(`The MongoDB-compatible server did not answer on ${uri} in time. Its log ends with:\n${tail}`, {
      code: 'MONGO_START_FAILED',
      retriable: true,
    });
  }
  return { pid, port, uri, logFile };
}
