import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isAlive } from '../core/infra/process.js';

const run = promisify(execFile);
const bin = join(process.cwd(), 'bin', 'changeflow.js');

/** The CLI exactly as a user runs it, with no servers given through the environment. */
async function changeflow(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env };
  for (const key of ['KAFKA_BROKERS', 'MONGODB_URI', 'REDIS_URL']) delete env[key];
  return run(process.execPath, [bin, ...args], { env, timeout: 120_000 });
}

async function javaProcessesUsing(dir: string): Promise<string[]> {
  try {
    const { stdout } = await run('pgrep', ['-af', dir]);
    return stdout.split('\n').filter((l) => l.includes('java'));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('changeflow infra start | status | stop', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'changeflow-infra-cli-'));
  afterAll(async () => {
    await changeflow(['infra', 'stop', '--state-dir', stateDir]).catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('starts reachable servers, reports them, and stops leaving no Java process behind', async () => {
    const started = await changeflow(['infra', 'start', '--json', '--state-dir', stateDir]);
    const addresses = JSON.parse(started.stdout) as { kafka: string; mongodb: string; redis: string | null };
    expect(addresses.kafka).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(addresses.mongodb).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+/);

    const status = JSON.parse((await changeflow(['infra', 'status', '--json', '--state-dir', stateDir])).stdout) as {
      kafka: string;
      up: Record<string, boolean>;
    };
    expect(status.kafka).toBe(addresses.kafka);
    expect(status.up['kafka']).toBe(true);
    expect(status.up['mongodb']).toBe(true);

    // A second start reuses the running servers instead of starting new ones.
    const again = JSON.parse((await changeflow(['infra', 'start', '--json', '--state-dir', stateDir])).stdout) as { kafka: string };
    expect(again.kafka).toBe(addresses.kafka);

    const ours = await javaProcessesUsing(stateDir);
    expect(ours.length).toBeGreaterThanOrEqual(2);
    const pids = ours.map((line) => Number(line.split(' ')[0]));

    await changeflow(['infra', 'stop', '--state-dir', stateDir]);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(await javaProcessesUsing(stateDir)).toEqual([]);
    const after = await changeflow(['infra', 'status', '--json', '--state-dir', stateDir]);
    expect(JSON.parse(after.stdout)).toEqual({ running: false });
  });
});
