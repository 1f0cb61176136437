import { isRetriable } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { retry } from '../../retry.js';
import { fromLibrdkafka } from '../kafka-errors.js';
import type { RdConsumer, RdError, RdTopicPartition } from '../librdkafka-binding.js';
import { COMMIT_RESEND_RETRY, COMMIT_RETRY } from '../retry-policies.js';
import type { TopicPartitionOffset } from '../transport.js';
import { call, callSync, tpKey } from './connection.js';

/** What the commits need of a partition's state in the consumer. */
export interface CommitState {
  assigned: boolean;
  /** The offset last asked to be committed: a refused commit is sent again only while it still is. */
  committing: number | undefined;
}

interface CommitOffset {
  topic: string;
  partition: number;
  offset: number;
}

/** The commits of one librdkafka consumer: retried while refused for now, sent again when the broker refuses them later. */
export class RdCommits {
  /** Resends of refused commits waiting for the broker's answer, by partition and offset. */
  private readonly answers = new Map<string, ((err: RdError | undefined) => void)[]>();
  private closed = false;
  private readonly stop = new AbortController();

  constructor(
    private readonly consumer: RdConsumer,
    private readonly stateOf: (topic: string, partition: number) => CommitState | undefined,
    private readonly logger: Logger | undefined,
  ) {}

  /**
   * Retries what a rebalance or a moving coordinator refuses for now, as kafkajs's commitOffsets does.
   * Offsets of partitions this member no longer owns are dropped: a late commit must not move the new
   * owner's position back (the new owner re-reads from the last commit: at-least-once holds).
   *
   * The binding's commitCb answers once the commit is queued (it calls commitAsync); the broker's answer
   * comes later through offset_commit_cb, served by consume calls. Waiting for it here would deadlock a
   * caller that commits inside eachBatch, so a refused commit is sent again from `onCommitted`.
   */
  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    const owned = () =>
      offsets
        .filter((o) => this.stateOf(o.topic, o.partition)?.assigned === true)
        .map((o) => ({ topic: o.topic, partition: o.partition, offset: Number(o.offset) }));
    if (owned().length === 0) return;
    await call('commit', () =>
      retry(
        () => {
          const list = owned();
          for (const o of list) {
            const state = this.stateOf(o.topic, o.partition);
            if (state) state.committing = o.offset;
          }
          if (list.length === 0) return Promise.resolve();
          return new Promise<void>((resolve, reject) => this.consumer.commitCb(list, (err) => (err ? reject(fromLibrdkafka(err, 'commit')) : resolve())));
        },
        { ...COMMIT_RETRY, shouldRetry: (error) => isRetriable(error) && !this.closed, signal: this.stop.signal },
      ),
    );
  }

  /**
   * The broker's answer to a commit. A retriable refusal (the group's generation moved during a
   * rebalance, the coordinator moved) is sent again while the partition is still owned and no newer
   * commit was asked for; before this, such commits were lost silently (librdkafka only logs them).
   * An answer to such a resend goes to the resend waiting for it.
   */
  onCommitted(err: RdError | undefined, offsets: RdTopicPartition[]): void {
    const unanswered: CommitOffset[] = [];
    for (const tp of offsets) {
      if (tp.offset === undefined) continue;
      const key = `${tpKey(tp.topic, tp.partition)}@${tp.offset}`;
      const waiting = this.answers.get(key);
      this.answers.delete(key);
      if (waiting) for (const answer of waiting) answer(err);
      else unanswered.push({ topic: tp.topic, partition: tp.partition, offset: tp.offset });
    }
    if (!err || this.closed || unanswered.length === 0) return;
    const refusal = fromLibrdkafka(err, 'commit');
    const again = unanswered.filter((o) => this.stillCommitting(o));
    if (!refusal.retriable || again.length === 0) return;
    this.logger?.warn({ err: err.message, partitions: again.map((o) => o.partition) }, 'librdkafka commit refused; sending it again');
    // The refusal just received is the first attempt: each next one sends the commit again and waits for its answer.
    void retry((attempt) => (attempt === 1 ? Promise.reject(refusal) : this.commitAgain(again)), {
      ...COMMIT_RESEND_RETRY,
      shouldRetry: (error) => isRetriable(error) && !this.closed,
      signal: this.stop.signal,
    }).catch(() => undefined);
  }

  private stillCommitting(o: CommitOffset): boolean {
    const state = this.stateOf(o.topic, o.partition);
    return state?.assigned === true && state.committing === o.offset && !this.closed;
  }

  /** Sends those of `offsets` still to be committed and resolves with the broker's answer. */
  private async commitAgain(offsets: readonly CommitOffset[]): Promise<void> {
    const still = offsets.filter((o) => this.stillCommitting(o));
    if (still.length === 0) return;
    const answers = still.map(
      (o) =>
        new Promise<RdError | undefined>((resolve) => {
          const key = `${tpKey(o.topic, o.partition)}@${o.offset}`;
          this.answers.set(key, [...(this.answers.get(key) ?? []), resolve]);
        }),
    );
    callSync('commit', () => this.consumer.commitCb(still, () => undefined));
    const refused = (await Promise.all(answers)).find((err) => err !== undefined);
    if (refused) throw fromLibrdkafka(refused, 'commit');
  }

  /** The consumer stops: no retry goes on, and resends waiting for an answer (served by consume calls, which stop too) give up. */
  close(): void {
    this.closed = true;
    this.stop.abort();
    for (const waiting of this.answers.values()) for (const answer of waiting) answer(undefined);
    this.answers.clear();
  }
}
