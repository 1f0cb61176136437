import type { RetryPolicy } from '../retry.js';

/** How a Kafka client tries again. */
export type KafkaRetryPolicy = RetryPolicy;

/** librdkafka's consume call failed: call again, for as long as the consumer runs. */
export const CONSUME_RETRY: KafkaRetryPolicy = { attempts: Number.POSITIVE_INFINITY, initialDelayMs: 100, maxDelayMs: 5_000, jitter: 0.2, factor: 2 };

/**
 * `eachBatch` failed: the same records are handed out again while the partition is still ours, as
 * KafkaJS's runner does; nothing was committed for them.
 */
export const REDELIVERY_RETRY: KafkaRetryPolicy = { attempts: Number.POSITIVE_INFINITY, initialDelayMs: 300, maxDelayMs: 30_000, jitter: 0.2, factor: 2 };

/** A commit call refused for now (a rebalance, a moving coordinator), as KafkaJS's commitOffsets retries. */
export const COMMIT_RETRY: KafkaRetryPolicy = { attempts: 8, initialDelayMs: 100, maxDelayMs: 3_000, jitter: 0.2, factor: 2 };

/** A commit the broker refused after it was queued: the refusal counts as the first attempt, then up to 20 resends. */
export const COMMIT_RESEND_RETRY: KafkaRetryPolicy = { attempts: 21, initialDelayMs: 200, maxDelayMs: 3_000, jitter: 0.2, factor: 2 };

/** Offsets of a topic created a moment ago, which the broker may not know yet. */
export const NEW_TOPIC_OFFSETS_RETRY: KafkaRetryPolicy = { attempts: 10, initialDelayMs: 100, maxDelayMs: 2_000, jitter: 0.2, factor: 2 };

/** Asking for the partition leaders of new topics, until TOPIC_LEADER_WAIT_MS has passed. */
export const LEADERS_POLL: KafkaRetryPolicy = { attempts: Number.POSITIVE_INFINITY, initialDelayMs: 25, maxDelayMs: 500, jitter: 0, factor: 2 };

/** Asking a group's committed offsets while its coordinator is still loading it (a fresh broker, the group's first join). */
export const GROUP_COORDINATOR_RETRY: KafkaRetryPolicy = { attempts: 10, initialDelayMs: 100, maxDelayMs: 2_000, jitter: 0.2, factor: 2 };
