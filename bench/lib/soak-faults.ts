import { SeededRandom } from './soak-random.js';

export type FaultKind =
  | 'service-kill'
  | 'broker-kill'
  | 'redis-restart'
  | 'pause-broker'
  | 'pause-a'
  | 'pause-b'
  | 'pause-redis'
  | 'pause-service'
  | 'proxy-a-drop'
  | 'proxy-b-drop'
  | 'proxy-a-blackhole'
  | 'proxy-b-blackhole'
  | 'proxy-a-trickle'
  | 'proxy-b-trickle'
  | 'b-outage';

export interface PlannedFault {
  kind: FaultKind;
  /** From the writer's start. */
  atMs: number;
  /** How long the fault lasts (for kills: the time the process stays down before its restart). */
  durationMs: number;
}

export interface FaultRecord extends PlannedFault {
  startedAt: number;
  endedAt: number;
  /** Until every write made before the fault ended had reached the Kafka-sink topic, after the end. */
  recoveryMs?: number | undefined;
}

const random5to20 = (r: SeededRandom): number => r.int(5, 20) * 1000;

const durations: Record<FaultKind, (r: SeededRandom) => number> = {
  'service-kill': (r) => r.int(1, 3) * 1000,
  'broker-kill': () => 0,
  'redis-restart': () => 0,
  'pause-broker': random5to20,
  'pause-a': random5to20,
  'pause-b': random5to20,
  'pause-redis': random5to20,
  'pause-service': random5to20,
  'proxy-a-drop': (r) => r.int(3, 10) * 1000,
  'proxy-b-drop': (r) => r.int(3, 10) * 1000,
  'proxy-a-blackhole': random5to20,
  'proxy-b-blackhole': random5to20,
  'proxy-a-trickle': (r) => r.int(5, 15) * 1000,
  'proxy-b-trickle': (r) => r.int(5, 15) * 1000,
  'b-outage': () => 60_000,
};

/**
 * Issue 18's sequence first (broker frozen 15 s, A frozen 8 s, the service killed and restarted,
 * the broker frozen again 5 s), then the other kinds in a seeded order (kills and restarts first),
 * each once before any repeats,
 * one at a time with 3–8 s between them, until `windowMs` (the writer's run) is used up. Runs of 5
 * minutes or more also get a 60 s outage of B (a proxy blackhole).
 */
export function planFaults(options: { seed: number; windowMs: number; redis: boolean }): PlannedFault[] {
  const r = new SeededRandom(options.seed ^ 0x5eed);
  const plan: PlannedFault[] = [];
  let at = 8_000;
  const add = (kind: FaultKind, durationMs: number): boolean => {
    // Kills of the broker and the service take ~10 s to come back; leave room after every fault.
    if (at + durationMs + 12_000 > options.windowMs) return false;
    plan.push({ kind, atMs: at, durationMs });
    at += durationMs + r.int(3, 8) * 1000;
    return true;
  };
  add('pause-broker', 15_000);
  add('pause-a', 8_000);
  add('service-kill', 2_000);
  add('pause-broker', 5_000);
  if (options.windowMs >= 5 * 60_000) add('b-outage', durations['b-outage'](r));
  const kinds = (Object.keys(durations) as FaultKind[]).filter((k) => k !== 'b-outage' && (options.redis || !k.includes('redis')));
  // Kills first in each round: they are the faults a short run must not miss.
  const kills = kinds.filter((k) => k.endsWith('-kill') || k.endsWith('-restart'));
  const others = kinds.filter((k) => !kills.includes(k));
  for (let round = 0; round < 100; round++) {
    for (const kind of [...shuffled(kills, r), ...shuffled(others, r)]) if (!add(kind, durations[kind](r))) return plan;
  }
  return plan;
}

function shuffled<T>(items: readonly T[], r: SeededRandom): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
