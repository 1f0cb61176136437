import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { stringify } from 'yaml';
import { eventually, testInfra, uniqueName } from './support/infra.js';

const bin = fileURLToPath(new URL('../bin/changeflow.js', import.meta.url));
const infra = testInfra();

describe('changeflow run --check', () => {
  it('refuses a sink entry its kind does not accept, naming the key path, and accepts a good file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-check-'));
    const write = (sinks: object[]): string => {
      const file = join(dir, `c-${sinks.length}.yaml`);
      const trigger = { name: 'orders-to-cache', source: { db: 'shop', coll: 'orders' }, sinks };
      writeFileSync(file, stringify({ kafka: { brokers: ['127.0.0.1:9092'] }, mongodb: { uri: 'mongodb://127.0.0.1:27017' }, triggers: [trigger] }));
      return file;
    };
    try {
      const bad = write([
        { name: 'cache', kind: 'redis', mode: 'invalidate', key: 'orders:{documentKey._id}' },
        { name: 'hook', kind: 'http' },
      ]);
      const refused = await promisify(execFile)(process.execPath, [bin, 'run', '--check', '--config', bad]).then(
        () => null,
        (error: { code: number; stderr: string }) => error,
      );
      expect(refused?.code).toBe(1);
      expect(refused?.stderr).toMatch(/triggers\[0\]\.sinks\[1\]\.url/);
      const good = write([{ name: 'cache', kind: 'redis', mode: 'invalidate', key: 'orders:{documentKey._id}' }]);
      const { stdout } = await promisify(execFile)(process.execPath, [bin, 'run', '--check', '--config', good]);
      expect(stdout).toMatch(/: ok \(0 sources, 0 functions, 1 triggers/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('changeflow run when a component fails for good', () => {
  const db = uniqueName('run-fatal');

  afterAll(async () => {
    const client = await MongoClient.connect(infra.mongodb);
    await client
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  });

  it('stays up with /readyz 503 naming the source when its server cannot be watched, and exits 0 on SIGTERM', async () => {
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
    const dir = mkdtempSync(join(tmpdir(), 'run-fatal-'));
    const file = join(dir, 'changeflow.yaml');
    writeFileSync(
      file,
      stringify({
        kafka: { brokers: infra.kafka.split(','), partitions: 1, topicPrefix: uniqueName('cf') },
        mongodb: { uri: infra.mongodb, db },
        http: { host: '127.0.0.1', port: 0 },
        grpc: { host: '127.0.0.1', port: 0 },
        sources: [{ name: 'everything', uri: infra.mongodb, watch: {} }],
      }),
    );
    const child = spawn(process.execPath, [bin, 'run', '--config', file], { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await eventually(() => /changeflow running: http (http:\/\/[\d.]+:\d+)/.test(stderr) || child.exitCode !== null, 'changeflow run to start', 90_000);
      const url = /changeflow running: http (http:\/\/[\d.]+:\d+)/.exec(stderr)?.[1] ?? '';
      let report: { ready?: boolean; components?: Record<string, { state?: string; detail?: string }> } = {};
      let code = 0;
      await eventually(
        async () => {
          const res = await fetch(`${url}/readyz`);
          code = res.status;
          report = (await res.json()) as typeof report;
          return report.components?.['source:everything']?.state === 'failed';
        },
        'source:everything failed in /readyz',
        60_000,
        200,
      );
      expect(code).toBe(503);
      expect(report.components?.['source:everything']?.detail).toMatch(/^source "everything": this server cannot watch a whole cluster/);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(child.exitCode).toBeNull();
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      expect(code).toBe(0);
    }
  }, 120_000);
});
