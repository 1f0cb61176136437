import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { INFRA_FILE } from '../../testing/infra-file.js';

export interface TestInfra {
  kafka: string;
  mongodb: string;
  redis: string | null;
}

/** The servers of this test run (from the environment the global setup exported). */
export function testInfra(): TestInfra {
  const fromFile = existsSync(INFRA_FILE) ? (JSON.parse(readFileSync(INFRA_FILE, 'utf8')) as Partial<TestInfra>) : {};
  const kafka = process.env['KAFKA_BROKERS'] ?? fromFile.kafka;
  const mongodb = process.env['MONGODB_URI'] ?? fromFile.mongodb;
  if (!kafka || !mongodb) throw new Error('integration tests need the global setup (run them through jest) or KAFKA_BROKERS and MONGODB_URI');
  return { kafka, mongodb, redis: process.env['REDIS_URL'] ?? fromFile.redis ?? null };
}

/** A name no other test (or earlier run against the same servers) uses: topics, databases, groups. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Polls until `check` is true or fails the test after `timeoutMs`, showing `what`. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** eventually(), with `diagnostics()` (e.g. child processes' last log lines) in the failure message. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  what: string | (() => string),
  timeoutMs: number,
  intervalMs = 250,
  diagnostics: () => string = () => '',
): Promise<void> {
  try {
    await eventually(check, typeof what === 'string' ? what : 'see below', timeoutMs, intervalMs);
  } catch (error) {
    const extra = diagnostics();
    throw new Error(`${(error as Error).message}${typeof what === 'string' ? '' : `: ${what()}`}${extra ? `\n${extra}` : ''}`, { cause: error });
  }
}
