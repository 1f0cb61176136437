import { Health } from '../../core/health.js';
import { counter, createMetricsRegistry } from '../../core/metrics.js';
import { sourceMetrics } from '../../connectors/mongodb/source-metrics.js';
import { ProcessorMetrics } from '../../processors/metrics.js';
import { demoConfig, demoNames } from './config.js';
import { GENERATOR_METRIC } from './generator.js';
import { demoTargets, readSnapshot } from './stats.js';
import { RateTracker, renderFrame, renderLine, rowTotals } from './view.js';
import { compileConfig } from '../../app/config.js';

const names = demoNames('demo');

async function sampleSnapshot() {
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const health = new Health();
  const writes = counter(registry, GENERATOR_METRIC, 'writes', ['op']);
  writes.inc({ op: 'insert' }, 5);
  writes.inc({ op: 'update' }, 7);
  writes.inc({ op: 'delete' }, 2);
  const source = sourceMetrics(registry);
  source.events.inc({ source: 'demo', op: 'snapshot' }, 100);
  source.events.inc({ source: 'demo', op: 'insert' }, 5);
  source.events.inc({ source: 'other', op: 'insert' }, 1000); // another source: not counted
  source.lag.set({ source: 'demo' }, 0.4);
  source.snapshotCopied.set({ source: 'demo' }, 100);
  source.snapshotTotal.set({ source: 'demo' }, 100);
  source.active.set({ source: 'demo' }, 1);
  const processors = new ProcessorMetrics(registry);
  const copy = processors.forTrigger('demo-copy');
  copy.batch({ delivered: 105, filtered: 0, deadLettered: 1 }, 0.01);
  copy.partitionLag('changeflow.demo.users', 0, 3);
  copy.setRunning(true);
  const audit = processors.forTrigger('demo-audit');
  audit.batch({ delivered: 2, filtered: 103, deadLettered: 0 }, 0.01);
  audit.setRunning(true);
  const sink = counter(registry, 'changeflow_sink_records_total', 'records', ['trigger', 'sink', 'kind', 'outcome']);
  sink.inc({ trigger: 'demo-copy', sink: 'copy', kind: 'mongodb', outcome: 'written' }, 100);
  sink.inc({ trigger: 'demo-copy', sink: 'copy', kind: 'mongodb', outcome: 'skipped' }, 4);
  sink.inc({ trigger: 'demo-audit', sink: 'audit', kind: 'audit', outcome: 'written' }, 2);
  health.set('sink:demo-copy:copy', false, 'mongodb sink "copy": target down (retrying)');
  return readSnapshot(registry, health, names, demoTargets(names, false));
}

describe('demo live view', () => {
  it('reads every stage from the metrics registry and the health checks', async () => {
    const snapshot = await sampleSnapshot();
    expect(snapshot.generator).toEqual({ total: 14, byOp: { insert: 5, update: 7, delete: 2 } });
    expect(snapshot.source).toMatchObject({ published: 105, snapshot: 100, lagSeconds: 0.4, snapshotCopied: 100, active: true });
    expect(snapshot.triggers.map((t) => t.trigger)).toEqual(['demo-copy', 'demo-audit']); // no Redis → no cache row
    expect(snapshot.triggers[0]).toMatchObject({ delivered: 105, deadLettered: 1, lag: 3, written: 100, skipped: 4, running: true });
    expect(snapshot.triggers[1]).toMatchObject({ delivered: 2, filtered: 103, written: 2 });
    expect(snapshot.deadLetters).toBe(1);
    expect(snapshot.unhealthy).toEqual([{ component: 'sink:demo-copy:copy', detail: 'mongodb sink "copy": target down (retrying)' }]);
  });

  it('renders an aligned table with rates, lag and the problems a newcomer should see', async () => {
    const snapshot = await sampleSnapshot();
    const rates = new RateTracker();
    const earlier = new Map([...rowTotals(snapshot)].map(([k, v]) => [k, v - 10]));
    rates.add(snapshot.at - 2_000, earlier);
    const frame = renderFrame(snapshot, rates.add(snapshot.at, rowTotals(snapshot)), names, {
      startedAt: snapshot.at - 65_000,
      docs: { source: 103, copy: 103 },
      redisNote: 'no Redis',
    });
    const text = frame.join('\n');
    expect(frame[0]).toMatch(/^changeflow dev · demo pipeline · up 1:05 · /);
    expect(text).toMatch(/generator\s+writes → demo\.users\s+14\s+5\.0\s+insert 5 · update 7 · delete 2/);
    expect(text).toMatch(/source\s+demo\.users → changeflow\.demo\.users\s+105\s+5\.0\s+0\.4 s\s+snapshot 100\/100/);
    expect(text).toMatch(/trigger demo-copy\s+→ mongodb demo_copy\.users\s+105\s+5\.0\s+3\s+written 100 · skipped 4/);
    expect(text).toMatch(/trigger demo-audit\s+→ audit \(deletes\)\s+2\s+5\.0\s+0\s+recorded 2 · 103 non-deletes filtered/);
    expect(text).toMatch(/dead letters\s+changeflow\.__dlq\.<trigger>\s+1/);
    expect(text).toMatch(/\n {2}documents {2,}demo\.users 103 · demo_copy\.users 103 \(same count\)/);
    expect(text).toMatch(/\n {2}cache {2,}no Redis/);
    expect(text).toMatch(/\n {2}health {2,}degraded: sink:demo-copy:copy: mongodb sink "copy": target down \(retrying\)/);
    // Notes start in the flow column, like the stage rows.
    expect(frame.at(-1)?.indexOf('degraded')).toBe(frame[1]?.indexOf('flow'));
    // Columns line up: every stage row has its total ending at the same position.
    const totalsEnd = frame.slice(2, 6).map((line) => line.search(/\d[\d,]*\s{2,}\d+\.\d/));
    expect(new Set(totalsEnd.map((i, n) => i + (frame[n + 2]?.slice(i).match(/^[\d,]+/)?.[0].length ?? 0))).size).toBe(1);
  });

  it('has a one-line form for logs', async () => {
    const snapshot = await sampleSnapshot();
    expect(renderLine(snapshot, new Map(), { startedAt: 0 })).toBe(
      '[demo] generator 14 (0.0/s) · source 105 (lag 0.4 s) · demo-copy 105 (lag 3) · demo-audit 2 (lag 0) · dlq 1 · health degraded (sink:demo-copy:copy)',
    );
  });

  it('rates cover the last few seconds', () => {
    const rates = new RateTracker();
    expect(rates.add(0, new Map([['a', 0]])).get('a')).toBeUndefined();
    expect(rates.add(1_000, new Map([['a', 10]])).get('a')).toBe(10);
    rates.add(6_000, new Map([['a', 20]]));
    // The 0 ms point has left the 5 s window: (30 - 10) / (7 - 1) s.
    expect(rates.add(7_000, new Map([['a', 30]])).get('a')).toBeCloseTo(20 / 6);
  });

  it('the demo config is a valid changeflow.yaml, with or without Redis', () => {
    const base = {
      names,
      kafka: '127.0.0.1:9092',
      mongodb: 'mongodb://127.0.0.1:27017',
      metadataDb: 'changeflow',
      httpPort: 8080,
      grpcPort: 50051,
      token: 'dev-token-0123456789abcdef',
    };
    const withRedis = compileConfig(demoConfig({ ...base, redis: 'redis://127.0.0.1:6379' }), {});
    expect(withRedis.triggers.map((t) => t.name)).toEqual(['demo-copy', 'demo-cache', 'demo-audit']);
    expect(withRedis.sources[0]).toMatchObject({ name: 'demo', watch: { db: 'demo', coll: 'users' }, snapshot: 'initial' });
    expect(withRedis.triggers[1]?.sinks[0]).toMatchObject({ kind: 'redis', key: 'users:{documentKey._id}', keyPrefix: '' });
    const withoutRedis = compileConfig(demoConfig({ ...base, redis: null }), {});
    expect(withoutRedis.triggers.map((t) => t.name)).toEqual(['demo-copy', 'demo-audit']);
    expect(withoutRedis.redis).toBeUndefined();
    const other = demoNames('demo7');
    expect(other).toMatchObject({ copyDb: 'demo7_copy', topic: 'changeflow.demo7.users', copyTrigger: 'demo7-copy', redisKeyPrefix: 'demo7:' });
  });
});
