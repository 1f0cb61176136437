import { Health } from '../../core/health.js';
import { createMetricsRegistry } from '../../core/metrics.js';
import { TopicNames } from '../../core/topics.js';
import { ProcessorMetrics } from '../../processors/metrics.js';
import type { TriggerMessage } from '../trigger-messages.js';
import { FILE_TRIGGER_OWNER, pipelineSummary } from './pipeline.js';

const topics = new TopicNames('cf');
const aliceTrigger: Partial<TriggerMessage> = {
  id: 't1',
  name: 'orders',
  user_id: 'alice',
  enabled: true,
  runtime_key: 'api.alice.orders.t1',
  database: { data_source: '', database: 'shop', collection: 'orders', operation_types: [1], unordered: false, match: '', topic: '' },
  sinks: [{ name: 'out', kind: 'mongodb', options_json: '{"uri":"mongodb://u:***@h/"}' }],
};

function setup(): { health: Health; metrics: ReturnType<typeof createMetricsRegistry> } {
  const health = new Health();
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  health.set('processor:api.alice.orders.t1', true, 'consuming cf.shop.orders', { owner: 'tenant:alice' });
  health.set('processor:copy', true, 'consuming cf.demo.users');
  health.fail('source:alice-feed', 'history lost: resnapshot', 'tenant:alice');
  health.set('source:demo', true);
  health.set('source:bob-feed', true, undefined, { owner: 'tenant:bob' });
  const processor = new ProcessorMetrics(metrics);
  processor.forTrigger('api.alice.orders.t1').batch({ delivered: 7, filtered: 0, deadLettered: 2 }, 0.01);
  processor.forTrigger('copy').batch({ delivered: 3, filtered: 0, deadLettered: 0 }, 0.01);
  return { health, metrics };
}

describe('pipelineSummary', () => {
  it("gives a tenant its triggers' figures and its own sources only, with a failed one's reason, and sinks without options", async () => {
    const summary = await pipelineSummary({ userId: 'alice', admin: false }, [aliceTrigger], { ...setup(), topics });
    expect(summary.sources).toEqual([{ name: 'alice-feed', state: 'failed', ok: false, reason: 'history lost: resnapshot' }]);
    expect(summary.triggers).toEqual([
      expect.objectContaining({ id: 't1', name: 'orders', topic: 'cf.shop.orders', state: 'running', ok: true, reason: null, delivered: 7, deadLettered: 2 }),
    ]);
    expect(summary.triggers[0]?.sinks).toEqual([{ name: 'out', kind: 'mongodb' }]);
    expect(JSON.stringify(summary)).not.toMatch(/copy|demo|bob/);
  });

  it("gives an admin every source and changeflow.yaml's triggers besides the API's", async () => {
    const summary = await pipelineSummary({ userId: 'ops', admin: true }, [aliceTrigger], { ...setup(), topics });
    expect(summary.sources.map((s) => s.name).sort()).toEqual(['alice-feed', 'bob-feed', 'demo']);
    expect(summary.triggers.map((t) => [t.name, t.userId, t.delivered])).toEqual([
      ['orders', 'alice', 7],
      ['copy', FILE_TRIGGER_OWNER, 3],
    ]);
  });
});
