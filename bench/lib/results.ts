import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BenchRow } from './stage.js';

export interface BenchRunInfo {
  startedAt: string;
  quick: boolean;
  durationMs: number;
  messageBytes: number;
  partitions: number;
  client: string;
  producerClient?: string;
  kafka: string;
  mongodb: string;
  librdkafkaVersion: string | null;
}

/** Writes bench/results/<date>.json (<date>-2.json … for later runs that day; --quick runs: <date>-quick.json). */
export function writeResults(dir: string, info: BenchRunInfo, rows: readonly BenchRow[], summary: Record<string, number> = {}): string {
  mkdirSync(dir, { recursive: true });
  const date = info.startedAt.slice(0, 10);
  let file = join(dir, `${date}${info.quick ? '-quick' : ''}.json`);
  for (let n = 2; !info.quick && existsSync(file); n++) file = join(dir, `${date}-${n}.json`);
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
  writeFileSync(file, `${JSON.stringify({ ...info, machine, summary, rows }, null, 2)}\n`);
  return file;
}
