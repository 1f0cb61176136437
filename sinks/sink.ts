import type { z } from 'zod';
import type { AppContext } from '../core/app.js';
import { ChangeflowError } from '../core/errors.js';
import type { HealthOwner } from '../core/health.js';
import type { ChangeEvent } from '../schemas/envelope.js';

/** What a function asks a sink to do (validated by processors/sandbox/actions.ts before it gets here). */
export interface Action {
  sink: string;
  op: string;
  [field: string]: unknown;
}

/** Where a record came from in Kafka: for dead letters and for logs. */
export interface RecordOrigin {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * One unit of work for a sink: the change event it came from and, when the trigger has a function,
 * the action the function returned for this sink. Without an action the sink applies the event itself
 * (pass-through: MongoDB applies the change, Redis sets/deletes `<coll>:<_id>`, audit records it).
 */
export interface SinkRecord {
  event: ChangeEvent;
  action?: Action;
  origin: RecordOrigin;
}

export interface Sink {
  readonly name: string;
  readonly kind: string;
  start(): Promise<void>;
  /**
   * Resolves only when every record is durably written (the processor commits offsets after this).
   * Must be idempotent: writing the same records again leaves the same state.
   * Rejects with a SinkWriteError that names the records the target refused, or any error for
   * "nothing is known to be written" (the processor retries the whole batch).
   */
  write(records: readonly SinkRecord[]): Promise<void>;
  stop(): Promise<void>;
}

/** A target refused some records for good (validation, duplicate key): these go to the DLQ, the rest are done. */
export class SinkWriteError extends ChangeflowError {
  constructor(
    message: string,
    /** Indexes into the `records` passed to write(), with the target's reason for each. */
    readonly rejected: readonly { index: number; reason: string }[],
    options: { cause?: unknown } = {},
  ) {
    super(message, { ...options, retriable: false, code: 'SINK_REJECTED' });
  }
}

/** What a sink is given besides its own config. */
export interface SinkDependencies {
  trigger: string;
  /** Who answers for the sink in health (its trigger's owner); default `instance`. */
  owner?: HealthOwner;
  context: Pick<AppContext, 'config' | 'logger' | 'metrics' | 'health' | 'kafka' | 'topics' | 'metadata'>;
}

/**
 * A kind of sink: its config schema (validated at the edge; each option documented once on the schema
 * with `.meta`, see core/component-spec.ts) and how to make one. One file per kind, one registry line.
 */
export interface SinkKind<S extends z.ZodType = z.ZodType> {
  kind: string;
  description: string;
  /** Validates the sink's entry in a trigger (`{ name, kind, ...options }`). */
  configSchema: S;
  create(config: z.output<S>, dependencies: SinkDependencies): Sink;
}
