import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { MongoClient } from 'mongodb';
import { stringify } from 'yaml';
import { ControlClient } from '../control/client.js';
import { testInfra, uniqueName } from './support/infra.js';
import { freePort } from '../core/infra/net.js';
import { refused } from './support/grpc.js';

// Issue 16 item 4 (functions off the main thread) and the function checks of items 6 and 7.

const TOKENS = { alice: 'alice-token-fn-0123456789', bob: 'bob-token-fn-0123456789ab', admin: 'admin-token-fn-012345678' };
const ECHO = 'export default (events) => events.map((e) => ({ sink: "out", op: "set", value: e }))';
const SPIN = 'export default function handle() { while (true) {} }';
const BOMB = 'export default function handle() { const a = []; let i = 0; while (true) a.push("x".repeat(1 << 20) + i++); }';
const bin = fileURLToPath(new URL('../bin/changeflow.js', import.meta.url));

type Msg = Record<string, unknown>;
interface ExecuteReply {
  actions_json: string;
  error: string;
  error_kind: string;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(0)} MiB`;

/** A port nobody listens on right now. */

/** Resident set size of a process, from /proc (Linux). */
function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) * 1024;
}

/**
 * RSS once it is back within `slackBytes` of `baselineBytes`, or the last reading after `withinMs`:
 * a terminated worker's heap goes back to the OS while its thread is torn down, not at once.
 */
async function settledRssOf(pid: number, baselineBytes: number, slackBytes: number, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  let rss = rssOf(pid);
  while (rss - baselineBytes >= slackBytes && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    rss = rssOf(pid);
  }
  return rss;
}

// The service runs as its own process (`changeflow run`), as in production: measured from this
// process, a stalled service thread cannot hide behind a stalled test thread.
describe('functions run off the main thread, within caps (issue 16 item 4)', () => {
  const infra = testInfra();
  const dbName = uniqueName('fnsec');
  const dir = mkdtempSync(join(tmpdir(), 'fnsec-'));
  let service: ChildProcess;
  let httpUrl = '';
  let alice: ControlClient;
  let bob: ControlClient;
  let admin: ControlClient;

  beforeAll(async () => {
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const file = join(dir, 'changeflow.yaml');
    writeFileSync(
      file,
      stringify({
        kafka: { brokers: [infra.kafka] },
        mongodb: { uri: infra.mongodb, db: dbName },
        http: { port: httpPort },
        grpc: { port: grpcPort },
        auth: {
          tokens: [
            { token: TOKENS.alice, userId: 'alice' },
            { token: TOKENS.bob, userId: 'bob' },
            { token: TOKENS.admin, userId: 'ops', admin: true },
          ],
        },
      }),
    );
    service = spawn(process.execPath, [bin, 'run', '--config', file], { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`changeflow run did not start in 60 s:\n${stderr}`)), 60_000);
      service.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('changeflow running:')) {
          clearTimeout(timer);
          resolve();
        }
      });
      service.once('exit', (code) => reject(new Error(`changeflow run exited with ${code}:\n${stderr}`)));
    });
    httpUrl = `http://127.0.0.1:${httpPort}`;
    const address = `127.0.0.1:${grpcPort}`;
    alice = new ControlClient(address, TOKENS.alice, { deadlineMs: 60_000 });
    bob = new ControlClient(address, TOKENS.bob, { deadlineMs: 60_000 });
    admin = new ControlClient(address, TOKENS.admin, { deadlineMs: 60_000 });
    // Start the pool's workers (and the HTTP connection) before anything is timed.
    await fetch(`${httpUrl}/healthz`);
    await Promise.all([
      alice.call('functions', 'execute', { javascript: ECHO, events_json: '[1]' }),
      bob.call('functions', 'execute', { javascript: ECHO, events_json: '[1]' }),
    ]);
  }, 90_000);

  afterAll(async () => {
    for (const c of [alice, bob, admin]) c?.close();
    if (service && service.exitCode === null) {
      const exited = new Promise((r) => service.once('exit', r));
      service.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
    const client = await MongoClient.connect(infra.mongodb);
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  });

  const createFunction = async (as: ControlClient, name: string, javascript: string, limits: Msg = {}): Promise<Msg> =>
    (await as.call<{ function: Msg }>('functions', 'create', { function: { name, function_type: 2, javascript, ...limits } })).function;

  it('answers /healthz and another tenant while a while(true) runs at the tenant maximum, and stops it within 2x', async () => {
    const fn = await createFunction(alice, 'spin-max', SPIN, { timeout_ms: 10_000 });
    const spinStarted = performance.now();
    const spinning = alice
      .call<ExecuteReply>('functions', 'execute', { id: fn['id'], events_json: '[]' })
      .then((reply) => ({ reply, ms: performance.now() - spinStarted }));
    await new Promise((r) => setTimeout(r, 500));
    const health: number[] = [];
    const other: number[] = [];
    for (let i = 0; i < 5; i++) {
      const h = await timed(() => fetch(`${httpUrl}/healthz`).then((r) => r.status));
      expect(h.value).toBe(200);
      health.push(h.ms);
      const b = await timed(() => bob.call<ExecuteReply>('functions', 'execute', { javascript: ECHO, events_json: '[{"n":1}]' }));
      expect(JSON.parse(b.value.actions_json)).toEqual([{ sink: 'out', op: 'set', value: { n: 1 } }]);
      other.push(b.ms);
      await new Promise((r) => setTimeout(r, 300));
    }
    const { reply, ms } = await spinning;
    const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(', ');
    console.log(
      `during while(true) at timeout_ms 10000: /healthz answered in [${fmt(health)}] ms; bob's function.execute in [${fmt(other)}] ms; the spin failed (${reply.error_kind}) after ${ms.toFixed(0)} ms`,
    );
    expect(Math.max(...health)).toBeLessThan(2_000);
    expect(Math.max(...other)).toBeLessThan(2_000);
    expect(reply.error_kind).toBe('timeout');
    expect(ms).toBeLessThan(20_000);
  }, 60_000);

  it("gives a memory bomb's memory back to the OS: RSS back within 50 MiB of before, within 10 s of the reply", async () => {
    const fn = await createFunction(admin, 'bomb', BOMB, { memory_mib: 1024, timeout_ms: 1_000 });
    const pid = service.pid ?? 0;
    const before = rssOf(pid);
    const { value: reply, ms } = await timed(() => admin.call<ExecuteReply>('functions', 'execute', { id: fn['id'], events_json: '[]' }));
    // The spent worker is replaced; calls on both workers make sure the new one is up before measuring.
    await Promise.all([
      alice.call('functions', 'execute', { javascript: ECHO, events_json: '[1]' }),
      bob.call('functions', 'execute', { javascript: ECHO, events_json: '[1]' }),
    ]);
    const after = await settledRssOf(pid, before, 50 * 1048576, 10_000);
    console.log(
      `memory bomb at memory_mib 1024, timeout_ms 1000: ${reply.error_kind} after ${ms.toFixed(0)} ms; RSS ${mib(before)} before, ${mib(after)} after (${mib(after - before)} more)`,
    );
    expect(['memory', 'timeout']).toContain(reply.error_kind);
    expect(ms).toBeLessThan(2_000);
    expect(after - before).toBeLessThan(50 * 1048576);
  }, 60_000);

  it("refuses limits above the caller's caps, naming the cap; admins have higher caps", async () => {
    let error = await refused(createFunction(alice, 'too-slow', ECHO, { timeout_ms: 15_000 }));
    expect([error.code, error.details]).toEqual([
      grpc.status.PERMISSION_DENIED,
      expect.stringMatching(/^function\.timeout_ms: 15000 ms is above your maximum of 10000 ms \(maxTimeoutMs/),
    ]);
    error = await refused(createFunction(alice, 'too-big', ECHO, { memory_mib: 512 }));
    expect([error.code, error.details]).toEqual([
      grpc.status.PERMISSION_DENIED,
      expect.stringMatching(/^function\.memory_mib: 512 MiB is above your maximum of 256 MiB \(maxMemoryMiB/),
    ]);
    const ok = await createFunction(alice, 'within', ECHO, { timeout_ms: 10_000, memory_mib: 256 });
    error = await refused(alice.call('functions', 'update', { id: ok['id'], timeout_ms: 20_000 }));
    expect([error.code, error.details]).toEqual([
      grpc.status.PERMISSION_DENIED,
      expect.stringContaining('timeout_ms: 20000 ms is above your maximum of 10000 ms'),
    ]);
    const slow = await createFunction(admin, 'admin-slow', ECHO, { timeout_ms: 15_000, user_id: 'alice' });
    expect(slow['timeout_ms']).toBe(15_000);
    error = await refused(alice.call('functions', 'execute', { id: slow['id'], events_json: '[]' }));
    expect([error.code, error.details]).toEqual([
      grpc.status.PERMISSION_DENIED,
      expect.stringContaining('timeout_ms: 15000 ms is above your maximum of 10000 ms'),
    ]);
    error = await refused(createFunction(admin, 'admin-too-slow', ECHO, { timeout_ms: 60_001 }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('refuses at create and update a function that would not start, without blocking the service', async () => {
    let error = await refused(createFunction(alice, 'not-a-function', 'export default { handle() { return []; } };'));
    expect([error.code, error.details]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      expect.stringContaining('function.javascript: function code must "export default" a function'),
    ]);
    error = await refused(createFunction(alice, 'throws-at-load', 'throw new Error("missing setup");\nexport default () => [];'));
    expect([error.code, error.details]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      expect.stringMatching(/^function\.javascript: fails while its module loads: Error: missing setup \(line 1/),
    ]);
    const spinAtLoad = timed(() => refused(createFunction(alice, 'spins-at-load', 'while (true) {}\nexport default () => [];')));
    const h = await timed(() => fetch(`${httpUrl}/healthz`).then((r) => r.status));
    const { value: spun, ms } = await spinAtLoad;
    console.log(`create with a top-level while(true): refused after ${ms.toFixed(0)} ms; /healthz meanwhile in ${h.ms.toFixed(1)} ms`);
    expect([spun.code, spun.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('time limit')]);
    expect(h.ms).toBeLessThan(2_000);
    const fn = await createFunction(alice, 'fine', ECHO);
    error = await refused(alice.call('functions', 'update', { id: fn['id'], javascript: 'export const handle = 1;' }));
    expect([error.code, error.details]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      expect.stringContaining('javascript: function code must "export default" a function'),
    ]);
  });

  it('has no clock inside functions: Date.now() throws, ctx.now() gives the batch time', async () => {
    const reply = await alice.call<ExecuteReply>('functions', 'execute', {
      javascript: 'export default () => [{ sink: "s", op: "o", value: Date.now() }]',
      events_json: '[]',
    });
    expect(reply.error_kind).toBe('runtime');
    expect(reply.error).toContain('Date.now() is not available in functions');
    const before = Date.now();
    const timed = await alice.call<ExecuteReply>('functions', 'execute', {
      javascript: 'export default (e, ctx) => [{ sink: "s", op: "o", value: ctx.now() }]',
      events_json: '[]',
    });
    const [action] = JSON.parse(timed.actions_json) as { value: number }[];
    expect(action?.value).toBeGreaterThanOrEqual(before);
    expect(action?.value).toBeLessThanOrEqual(Date.now());
  });
});

describe('changeflow run --check loads functions as run would (issue 16 item 7)', () => {
  it('refuses a function that does not compile or exports no function, and accepts a good one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-fn-'));
    const write = (functions: object[]): string => {
      const file = join(dir, `c-${functions.length}.yaml`);
      writeFileSync(file, stringify({ kafka: { brokers: ['127.0.0.1:9092'] }, mongodb: { uri: 'mongodb://127.0.0.1:27017' }, functions }));
      return file;
    };
    try {
      const bad = write([
        { name: 'broken', code: 'export default function (events) {\n  return [;\n}' },
        { name: 'no-export', code: 'export const x = 1;' },
      ]);
      const failed = await promisify(execFile)(process.execPath, [bin, 'run', '--check', '--config', bad]).then(
        () => null,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toMatch(/functions\[0\] \(broken\): function "broken" syntax error: SyntaxError: .*\(line 2/);
      expect(failed?.stderr).toMatch(/functions\[1\] \(no-export\): .*must "export default" a function/);
      const good = write([{ name: 'fine', code: ECHO }]);
      const { stdout } = await promisify(execFile)(process.execPath, [bin, 'run', '--check', '--config', good]);
      expect(stdout).toMatch(/: ok \(0 sources, 1 functions/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
