import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { stringify } from 'yaml';
import { testInfra, uniqueName } from './support/infra.js';

const bin = fileURLToPath(new URL('../bin/changeflow.js', import.meta.url));
const infra = testInfra();

/** Runs `changeflow run` on `config` until it exits by itself (or `timeoutMs` passes). */
function runUntilExit(config: object, timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'run-fatal-'));
  const file = join(dir, 'changeflow.yaml');
  writeFileSync(file, stringify(config));
  const child = spawn(process.execPath, [bin, 'run', '--config', file], { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, stderr });
    });
  });
}

describe('changeflow run when a component fails for good', () => {
  const db = uniqueName('run-fatal');

  afterAll(async () => {
    const client = await MongoClient.connect(infra.mongodb);
    await client.db(db).dropDatabase().catch(() => undefined);
    await client.close();
  });

  it('stops and exits 1 naming the source when its server cannot be watched', async () => {
    // Watching a whole cluster needs `aggregate` on the admin database, which a server without
    // cluster-wide change streams (mongo-java-server here) refuses: no retry can fix that.
    const probe = await MongoClient.connect(infra.mongodb);
    const clusterWatchRefused = await probe
      .watch()
      .tryNext()
      .then(
        () => false,
        () => true,
      );
    await probe.close();
    if (!clusterWatchRefused) {
      // On a real replica set the whole cluster can be watched, so there is no fatal source to provoke.
      console.warn('skipping: this MongoDB can watch a whole cluster');
      return;
    }
    const { code, stderr } = await runUntilExit(
      {
        kafka: { brokers: infra.kafka.split(','), partitions: 1, topicPrefix: uniqueName('cf') },
        mongodb: { uri: infra.mongodb, db },
        http: { host: '127.0.0.1', port: 0 },
        grpc: { host: '127.0.0.1', port: 0 },
        sources: [{ name: 'everything', uri: infra.mongodb, watch: {} }],
      },
      90_000,
    );
    expect(stderr).toMatch(/changeflow stopped: source:everything failed: source "everything": this server cannot watch a whole cluster/);
    expect(code).toBe(1);
  }, 120_000);
});
