import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedJars } from '../../core/infra/maven.js';
import { mongoAnswers } from '../../core/infra/mongo-server.js';
import { freePort, waitFor } from '../../core/infra/net.js';
import { spawnDetached, stopProcess } from '../../core/infra/process.js';

/**
 * mongo-java-server on the H2 backend with its data (and oplog) in `<workDir>/data.mv.db`
 * (MongoLauncher's --data-file), so the soak can SIGKILL it and start it again on the same port and
 * file, as a crashed mongod restarts. The memory backend `changeflow dev` and the tests use is
 * unchanged (core/infra/mongo-server.ts).
 */
export async function startDurableMongo(options: { jars: ResolvedJars; workDir: string; port?: number }): Promise<{ pid: number; port: number; uri: string }> {
  const port = options.port ?? (await freePort());
  const logFile = join(options.workDir, 'mongo.log');
  const launcher = join(options.jars.infraDir, 'java', 'MongoLauncher.java');
  const log4j = join(options.jars.infraDir, 'log4j2.properties');
  const dataFile = join(options.workDir, 'data.mv.db');
  const pid = spawnDetached(
    'java',
    [
      '-Xms128m',
      '-Xmx2g',
      '-XX:+UseZGC',
      `-Dchangeflow.workDir=${options.workDir}`,
      `-Dlog4j2.configurationFile=${log4j}`,
      '-cp',
      options.jars.classpath,
      launcher,
      '--data-file',
      dataFile,
      '127.0.0.1',
      String(port),
      '4.4.0',
      '9',
    ],
    logFile,
  );
  const uri = `mongodb://127.0.0.1:${port}/?directConnection=true`;
  if (!(await waitFor(() => mongoAnswers(uri), 60_000, 200))) {
    await stopProcess(pid, 0);
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '';
    throw new Error(`mongo-java-server (H2, ${dataFile}) did not answer on ${uri} in time. Its log ends with:\n${tail}`);
  }
  return { pid, port, uri };
}
