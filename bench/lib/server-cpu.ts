import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * utime + stime (fields 14 and 15, clock ticks) of a `/proc/<pid>/stat` line. The command name (field
 * 2) is in parentheses and may itself hold spaces and parentheses, so fields are counted after the
 * last ')'.
 */
export function cpuTicksOfStat(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  // After the name: field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
  const fields = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) throw new Error(`no utime/stime in /proc/<pid>/stat: ${stat.slice(0, 200)}`);
  return utime + stime;
}

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK` (the unit of /proc's times), asked once. */
export function clockTicksPerSecond(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) throw new Error(`getconf CLK_TCK answered ${ticksPerSecond}`);
  return ticksPerSecond;
}

/** CPU seconds (user + system) process `pid` has used so far. */
export function processCpuSeconds(pid: number): number {
  return cpuTicksOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8')) / clockTicksPerSecond();
}

/** A JVM thread's name without its number ("ZWorker#3" → "ZWorker", "mongo-server-worker-12" → "mongo-server-worker"). */
export function threadGroup(name: string): string {
  return name.trim().replace(/[#\-_ ]*\d+$/, '') || name.trim();
}

/**
 * CPU seconds per thread group of process `pid` so far (/proc/<pid>/task/<tid>/stat; a thread's name is
 * its stat's command field): in a JVM, request handling apart from the collector (ZWorker) and the JIT.
 * Threads that ended meanwhile are not counted.
 */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  const tick = clockTicksPerSecond();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const name = threadGroup(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    out.set(name, (out.get(name) ?? 0) + cpuTicksOfStat(stat) / tick);
  }
  return out;
}

/** What each thread group used between two `threadCpuSeconds` readings. */
export function threadCpuDelta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  return new Map([...after].map(([name, seconds]) => [name, seconds - (before.get(name) ?? 0)]));
}

/** The server's CPU over one figure: started where timing starts, read where it ends. */
export interface ServerCpuMeter {
  /** CPU seconds since the start per 1,000 `events`; null without a server process of ours to read. */
  per1k(events: number): number | null;
  /** CPU seconds since the start; null as above. */
  seconds(): number | null;
}

/** A meter on `pid` (the MongoDB server the bench started); one that answers null when there is none. */
export function serverCpuMeter(pid: number | undefined): ServerCpuMeter {
  if (pid === undefined) return { per1k: () => null, seconds: () => null };
  const start = processCpuSeconds(pid);
  const seconds = (): number => processCpuSeconds(pid) - start;
  return { seconds, per1k: (events) => (events > 0 ? (seconds() * 1000) / events : null) };
}
