import { isInternalTopic, topicRefusal } from './topic-guard.js';

describe("topic guard (a tenant's Kafka sink, per record)", () => {
  const guard = { internalPrefix: 'cf', forbidden: ['cf.*'], granted: ['cf.team-a.*', 'cf.*'] };

  it('refuses internal topics even when a grant covers them', () => {
    for (const topic of ['cf.__offsets', 'cf.__dlq.api.x.y.z', 'cf.shop.__ddl', 'cf.__schedule.k'])
      expect(topicRefusal(topic, guard)).toMatch(/internal to changeflow/);
    expect(isInternalTopic('other.__offsets', 'cf')).toBe(false);
  });

  it('refuses forbidden topics that no grant matches, and allows the rest', () => {
    const narrow = { ...guard, granted: ['cf.team-a.*'] };
    expect(topicRefusal('cf.shop.orders', narrow)).toMatch(/not granted .*granted: cf\.team-a\.\*/);
    expect(topicRefusal('cf.team-a.out', narrow)).toBeUndefined();
    expect(topicRefusal('orders.enriched', narrow)).toBeUndefined();
    expect(topicRefusal('cf.__offsets', undefined)).toBeUndefined();
  });
});
