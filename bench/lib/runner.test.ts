import { runStages } from './runner.js';
import type { BenchContext, BenchStage } from './stage.js';

const ctx: BenchContext = {
  kafka: 'unused:9092',
  mongodb: 'mongodb://unused',
  redis: null,
  quick: true,
  durationMs: 10,
  messageBytes: 1024,
  partitions: 1,
  client: 'kafkajs',
  producerClient: 'kafkajs',
  log: () => undefined,
  trackTopic: () => undefined,
};

function fixed(name: string, eventsPerSec: number, limitName?: BenchStage['limitName']): BenchStage {
  return {
    name,
    kind: limitName ? 'changeflow' : 'limit',
    ...(limitName ? { limitName } : {}),
    run: async () => ({ eventsPerSec, events: eventsPerSec, seconds: 1 }),
  };
}

describe('bench runner ratios', () => {
  it('compares a row with the one limit it names', async () => {
    const rows = await runStages([fixed('limit', 200), fixed('row', 50, 'limit')], ctx);
    expect(rows.find((r) => r.name === 'row')).toMatchObject({ limitName: 'limit', ratio: 0.25 });
  });

  it('compares a row that names several with the slowest of them that ran', async () => {
    const failing: BenchStage = { name: 'broken part', kind: 'changeflow', run: () => Promise.reject(new Error('down')) };
    const stages = [fixed('part a', 400), fixed('part b', 100), failing, fixed('whole', 60, ['part a', 'part b', 'broken part', 'absent part'])];
    const rows = await runStages(stages, ctx);
    expect(rows.find((r) => r.name === 'whole')).toMatchObject({ limitName: 'part b', ratio: 0.6 });
  });

  it('leaves the ratio out when no named row ran', async () => {
    const rows = await runStages([fixed('whole', 60, ['absent a', 'absent b'])], ctx);
    expect(rows[0]?.ratio).toBeUndefined();
    expect(rows[0]?.limitName).toBeUndefined();
  });

  it('calls every stage finish hook once, after every stage ran, even when a stage failed', async () => {
    const order: string[] = [];
    const tracked = (name: string, fail = false): BenchStage => ({
      name,
      kind: 'changeflow',
      run: async () => {
        order.push(`run ${name}`);
        if (fail) throw new Error('down');
        return { eventsPerSec: 1, events: 1, seconds: 1 };
      },
      finish: async () => void order.push(`finish ${name}`),
    });
    await runStages([tracked('a'), tracked('b', true)], ctx);
    expect(order).toEqual(['run a', 'run b', 'finish a', 'finish b']);
  });
});
