import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

/**
 * `changeflow run --config <tmp yaml>` as a child process, for tests that kill the service with
 * SIGKILL (a crash, not a clean stop). Output is kept for assertions and failure messages.
 */
export class ChildService {
  readonly output: string[] = [];
  private child: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(
    private readonly config: Record<string, unknown>,
    /** Environment additions; note KAFKA_BROKERS / MONGODB_URI override the config file. */
    private readonly env: Record<string, string> = {},
    private readonly root = process.cwd(),
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): this {
    const dir = mkdtempSync(join(tmpdir(), 'changeflow-child-'));
    const file = join(dir, 'changeflow.yaml');
    writeFileSync(file, stringify(this.config));
    const child = spawn(process.execPath, [resolve(this.root, 'bin/changeflow.js'), 'run', '--config', file], {
      cwd: this.root,
      env: { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) this.output.push(line);
      if (this.output.length > 20_000) this.output.splice(0, this.output.length - 20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((res) => child.once('exit', (code) => res(code)));
    this.child = child;
    return this;
  }

  /** Log lines (JSON) whose `msg` matches. */
  logs(msg: RegExp): Record<string, unknown>[] {
    return this.output.flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        return typeof parsed['msg'] === 'string' && msg.test(parsed['msg']) ? [parsed] : [];
      } catch {
        return [];
      }
    });
  }

  /** SIGKILL: the process gets no chance to flush or checkpoint. */
  async kill(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  tail(lines = 30): string {
    return this.output.slice(-lines).join('\n');
  }
}
