import type { IncomingRecord } from '../../core/kafka/index.js';
import { checkDeliveries, writeSeqOf } from './soak-checks.js';
import { planFaults, type FaultKind } from './soak-faults.js';
import { recoveryTimes } from './soak-report.js';
import type { WriteEntry } from './soak-writer.js';

const int = (n: number): { $numberInt: string } => ({ $numberInt: String(n) });

function record(offset: number, timestamp: number, event: Record<string, unknown>): IncomingRecord {
  return { topic: 'out', partition: 0, offset: String(offset), key: null, value: Buffer.from(JSON.stringify(event)), headers: {}, timestamp };
}

describe('soak checks', () => {
  const log: WriteEntry[] = [
    { seq: 1, at: 100, coll: 'orders', id: 1, op: 'insert' },
    { seq: 2, at: 200, coll: 'orders', id: 1, op: 'update' },
    { seq: 3, at: 300, coll: 'orders', id: 1, op: 'delete' },
    { seq: 4, at: 400, coll: 'orders', id: 1, op: 'insert' },
    { seq: 5, at: 500, coll: 'orders', id: 1, op: 'delete' },
  ];

  it('traces inserts by w, deletes per document in order, updates by count per collection; repeats are not losses', () => {
    const records = [
      record(0, 150, { id: 'a', op: 'insert', ns: { coll: 'orders' }, documentKey: { _id: int(1) }, fullDocument: { _id: int(1), w: int(1) } }),
      // An update from mongo-java-server: no delta, and the lookup found nothing (deleted since).
      record(1, 250, { id: 'b', op: 'update', ns: { coll: 'orders' }, fullDocument: null }),
      record(2, 350, { id: 'c', op: 'delete', ns: { coll: 'orders' }, documentKey: { _id: int(1) } }),
      record(3, 360, { id: 'c', op: 'delete', ns: { coll: 'orders' }, documentKey: { _id: int(1) } }),
      record(4, 450, { id: 'd', op: 'insert', ns: { coll: 'orders' }, documentKey: { _id: int(1) }, fullDocument: { _id: int(1), w: int(4) } }),
    ];
    const check = checkDeliveries(log, records);
    expect(check.repeats).toBe(1);
    // The second delete has no event: it is the loss.
    expect(check.missing.map((e) => e.seq)).toEqual([5]);
    expect(check.firstDelivered.get(3)).toBe(350);
    expect(recoveryTimes([{ kind: 'pause-broker', atMs: 0, durationMs: 100, startedAt: 100, endedAt: 300 }], log, check.firstDelivered)[0]?.recoveryMs).toBe(
      50,
    );
  });

  it("never takes an update's looked-up document for its write", () => {
    expect(writeSeqOf({ op: 'update', fullDocument: { w: int(9) } })).toBeUndefined();
    expect(writeSeqOf({ op: 'update', updateDescription: { updatedFields: { w: int(9) } } })).toBe(9);
    expect(writeSeqOf({ op: 'snapshot', fullDocument: { w: 7 } })).toBe(7);
  });

  it('plans the same faults for the same seed, issue 18 first, within the window', () => {
    const plan = planFaults({ seed: 42, windowMs: 180_000 });
    expect(planFaults({ seed: 42, windowMs: 180_000 })).toEqual(plan);
    expect(plan.slice(0, 4).map((f) => [f.kind, f.durationMs])).toEqual([
      ['pause-broker', 15_000],
      ['pause-a', 8_000],
      ['service-kill', 2_000],
      ['pause-broker', 5_000],
    ]);
    expect(plan.every((f) => f.atMs + f.durationMs <= 180_000)).toBe(true);
    const withoutRedis = planFaults({ seed: 42, windowMs: 180_000, skip: new Set(['redis-restart', 'pause-redis']) });
    expect(withoutRedis.some((f) => f.kind.includes('redis'))).toBe(false);
    expect(planFaults({ seed: 42, windowMs: 300_000 }).some((f) => f.kind === 'b-outage')).toBe(true);
  });

  it('pauses 5–20 s in short runs and up to 60 s in runs of 5 minutes or more', () => {
    const pauses = (windowMs: number): number[] =>
      [1, 2, 3, 4, 5, 6, 7, 8]
        .flatMap((seed) => planFaults({ seed, windowMs }).slice(4))
        .filter((f) => f.kind.startsWith('pause-'))
        .map((f) => f.durationMs);
    expect(Math.max(...pauses(120_000))).toBeLessThanOrEqual(20_000);
    const long = pauses(600_000);
    expect(Math.min(...long)).toBeGreaterThanOrEqual(5_000);
    expect(Math.max(...long)).toBeLessThanOrEqual(60_000);
    expect(Math.max(...long)).toBeGreaterThan(20_000);
  });

  it('never plans a skipped kind, not even in the issue 18 sequence', () => {
    const skip = new Set<FaultKind>(['broker-kill', 'pause-broker', 'pause-a']);
    const plan = planFaults({ seed: 3, windowMs: 600_000, skip });
    expect(plan.some((f) => skip.has(f.kind))).toBe(false);
    expect(plan[0]?.kind).toBe('service-kill');
  });
});
