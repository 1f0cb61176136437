import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { FaultRecord } from './soak-faults.js';
import type { WriteEntry } from './soak-writer.js';

/** Per fault, the time after its end until every write made before the end had reached the Kafka-sink topic. */
export function recoveryTimes(faults: readonly FaultRecord[], log: readonly WriteEntry[], firstDelivered: ReadonlyMap<number, number>): FaultRecord[] {
  return faults.map((fault) => {
    let latest = fault.endedAt;
    for (const entry of log) {
      if (entry.at > fault.endedAt) break;
      const delivered = firstDelivered.get(entry.seq);
      if (delivered !== undefined && delivered > latest) latest = delivered;
    }
    return { ...fault, recoveryMs: latest - fault.endedAt };
  });
}

/** The longest time a write took to reach the Kafka-sink topic, and which write. */
export function longestLag(log: readonly WriteEntry[], firstDelivered: ReadonlyMap<number, number>): { ms: number; seq: number | undefined } {
  let worst = { ms: 0, seq: undefined as number | undefined };
  for (const entry of log) {
    const delivered = firstDelivered.get(entry.seq);
    if (delivered !== undefined && delivered - entry.at > worst.ms) worst = { ms: delivered - entry.at, seq: entry.seq };
  }
  return worst;
}

/** Writes bench/results/soak-<date>.json (-2, -3… for later runs that day). */
export function writeSoakReport(dir: string, report: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  let file = join(dir, `soak-${date}.json`);
  for (let n = 2; existsSync(file); n++) file = join(dir, `soak-${date}-${n}.json`);
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version };
  writeFileSync(file, `${JSON.stringify({ ...report, machine }, null, 2)}\n`);
  return file;
}
