import { describe, expect, it } from '@jest/globals';
import { FairQueue } from './fair-queue.js';

describe('FairQueue', () => {
  it('serves tenants round robin, each in its own FIFO order', () => {
    const q = new FairQueue<string>(4);
    for (const item of ['a1', 'a2', 'a3']) q.push('a', item);
    for (const item of ['b1', 'b2']) q.push('b', item);
    q.push('c', 'c1');
    const order: string[] = [];
    for (let next = q.take(); next; next = q.take()) {
      order.push(next.item);
      q.finished(next.tenant);
    }
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  });

  // The pool calls take() only when a worker is free; these tests do the same.
  it('lets one tenant hold every worker while nobody else waits, but at most size - 1 when someone does', () => {
    const q = new FairQueue<string>(3);
    for (let i = 0; i < 5; i++) q.push('a', `a${i}`);
    expect([q.take()?.item, q.take()?.item]).toEqual(['a0', 'a1']);
    q.push('b', 'b0');
    // a holds 2 = size - 1 and b waits: the third worker goes to b, even though a queued first.
    expect(q.take()).toEqual({ tenant: 'b', item: 'b0' });
    q.finished('b');
    // Nobody else waits: a may take the last worker too.
    expect(q.take()?.item).toBe('a2');
    q.push('b', 'b1');
    q.finished('a');
    // The freed worker goes to b, not to a's next call.
    expect(q.take()?.item).toBe('b1');
    expect(q.waiting).toBe(2);
    expect(q.drain()).toEqual(['a3', 'a4']);
    expect(q.take()).toBeUndefined();
  });

  it('alternates tenants on a pool of one', () => {
    const q = new FairQueue<string>(1);
    q.push('a', 'a0');
    q.push('a', 'a1');
    q.push('b', 'b0');
    const order: string[] = [];
    for (let next = q.take(); next; next = q.take()) {
      order.push(next.item);
      q.finished(next.tenant);
    }
    expect(order).toEqual(['a0', 'b0', 'a1']);
  });
});
