import { TopicNames } from '../core/topics.js';
import { matchingTopics, subscriptionFor } from './source-topics.js';

const topics = new TopicNames('cf');

describe('subscriptionFor', () => {
  it('reads a named topic as is', () => {
    expect(subscriptionFor({ topic: 'raw.events' }, topics)).toMatchObject({ topics: ['raw.events'] });
  });

  it('maps a namespace to <prefix>.<db>.<coll>', () => {
    expect(subscriptionFor({ db: 'shop', coll: 'orders' }, topics)).toMatchObject({ topics: ['cf.shop.orders'] });
  });

  it('reads every collection topic of a database, but not __ddl (DDL events are on the collection topics too) nor other databases', () => {
    const sub = subscriptionFor({ db: 'shop' }, topics);
    const all = [
      'cf.shop.orders',
      'cf.shop.users',
      'cf.shop.__ddl',
      'cf.shopping.carts',
      'cf.other.orders',
      'cf.__dlq.x',
      'cf.shop.system.views',
      'xcf.shop.orders',
    ];
    expect(matchingTopics(sub, all)).toEqual(['cf.shop.orders', 'cf.shop.system.views', 'cf.shop.users']);
  });

  it('escapes regular-expression characters of the prefix and database', () => {
    const sub = subscriptionFor({ db: 'a+b' }, new TopicNames('c.f'));
    expect(matchingTopics(sub, ['c.f.a+b.x', 'cxf.a+b.x', 'c.f.aab.x'])).toEqual(['c.f.a+b.x']);
  });
});
