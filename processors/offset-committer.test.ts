import { describe, expect, it } from '@jest/globals';
import type { TopicPartitionOffset } from '../core/kafka/transport.js';
import { OffsetCommitter } from './offset-committer.js';

/** A commit function whose calls stay open until the test answers them. */
function controlledCommit(): {
  calls: TopicPartitionOffset[][];
  answer: (error?: Error) => void;
  commit: (offsets: readonly TopicPartitionOffset[]) => Promise<void>;
} {
  const calls: TopicPartitionOffset[][] = [];
  const waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  return {
    calls,
    answer(error) {
      const next = waiting.shift();
      if (!next) throw new Error('no commit is waiting');
      if (error) next.reject(error);
      else next.resolve();
    },
    commit(offsets) {
      calls.push([...offsets]);
      return new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
    },
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const fresh = (): boolean => false;

describe('OffsetCommitter', () => {
  it('sends the first offer at once and folds offers made meanwhile into one next commit, newest offset per partition', async () => {
    const c = controlledCommit();
    const committer = new OffsetCommitter(c.commit, () => undefined);
    committer.offer({ topic: 't', partition: 0, offset: '10' }, fresh);
    expect(c.calls).toEqual([[{ topic: 't', partition: 0, offset: '10' }]]);

    committer.offer({ topic: 't', partition: 0, offset: '12' }, fresh);
    committer.offer({ topic: 't', partition: 1, offset: '5' }, fresh);
    committer.offer({ topic: 't', partition: 0, offset: '15' }, fresh);
    expect(c.calls).toHaveLength(1);

    c.answer();
    await tick();
    expect(c.calls).toHaveLength(2);
    expect(c.calls[1]).toEqual([
      { topic: 't', partition: 0, offset: '15' },
      { topic: 't', partition: 1, offset: '5' },
    ]);
    c.answer();
    await committer.idle();
    expect(c.calls).toHaveLength(2);
  });

  it('skips partitions that are no longer ours when the commit goes out', async () => {
    const c = controlledCommit();
    const committer = new OffsetCommitter(c.commit, () => undefined);
    let revoked = false;
    committer.offer({ topic: 't', partition: 0, offset: '1' }, fresh);
    committer.offer({ topic: 't', partition: 1, offset: '7' }, () => revoked);
    committer.offer({ topic: 't', partition: 2, offset: '3' }, fresh);
    revoked = true;
    c.answer();
    await tick();
    expect(c.calls[1]).toEqual([{ topic: 't', partition: 2, offset: '3' }]);
    c.answer();
    await committer.idle();
  });

  it('reports a failed commit and keeps committing later offers', async () => {
    const c = controlledCommit();
    const failures: TopicPartitionOffset[][] = [];
    const committer = new OffsetCommitter(c.commit, (offsets) => failures.push([...offsets]));
    committer.offer({ topic: 't', partition: 0, offset: '4' }, fresh);
    c.answer(new Error('coordinator moved'));
    await committer.idle();
    expect(failures).toEqual([[{ topic: 't', partition: 0, offset: '4' }]]);

    committer.offer({ topic: 't', partition: 0, offset: '9' }, fresh);
    expect(c.calls[1]).toEqual([{ topic: 't', partition: 0, offset: '9' }]);
    c.answer();
    await committer.idle();
  });

  it('starts again after a round in which every offer was stale', async () => {
    const c = controlledCommit();
    const committer = new OffsetCommitter(c.commit, () => undefined);
    committer.offer({ topic: 't', partition: 0, offset: '2' }, () => true);
    await committer.idle();
    expect(c.calls).toHaveLength(0);
    committer.offer({ topic: 't', partition: 0, offset: '3' }, fresh);
    expect(c.calls).toEqual([[{ topic: 't', partition: 0, offset: '3' }]]);
    c.answer();
    await committer.idle();
  });

  it('idle() waits until offers made during the last commit are sent and answered', async () => {
    const c = controlledCommit();
    const committer = new OffsetCommitter(c.commit, () => undefined);
    committer.offer({ topic: 't', partition: 0, offset: '1' }, fresh);
    committer.offer({ topic: 't', partition: 0, offset: '2' }, fresh);
    let idle = false;
    const waiting = committer.idle().then(() => (idle = true));
    c.answer();
    await tick();
    expect(idle).toBe(false);
    expect(c.calls).toHaveLength(2);
    c.answer();
    await waiting;
    expect(idle).toBe(true);
  });
});
