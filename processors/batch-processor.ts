import { ChangeflowError, errorMessage, isRetriable } from '../core/errors.js';
import type { IncomingRecord } from '../core/kafka/index.js';
import { retry } from '../core/retry.js';
import { parseChangeEvent, type ChangeEvent } from '../schemas/envelope.js';
import { isConfluentAvro, type AvroCodec } from '../schemas/avro-codec.js';
import { SinkWriteError, type Action, type Sink, type SinkRecord } from '../sinks/sink.js';
import type { DeadLetter } from './dead-letters.js';
import type { EventFilter } from './event-filter.js';
import { FunctionError } from './sandbox/index.js';

/** Runs a trigger's function on one batch (FunctionSandbox fits; tests may pass their own). */
export interface FunctionRunner {
  /** `ctx.onRunTime`: see RunContext (a runner that waits for a worker reports the function's own time). */
  run(
    events: readonly ChangeEvent[],
    ctx: { trigger: string; now: number; sinkNames: readonly string[]; onRunTime?: (seconds: number) => void },
  ): Promise<Action[]>;
}

export interface RetryPolicy {
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

/** What the processor reports while it works (metrics, health, logs). */
export interface BatchObserver {
  /** The function's own run time (seconds); `queued`, when known, the wait for a worker before it. */
  functionTime(seconds: number, queued?: number): void;
  failure(kind: string, error: unknown, attempt: number): void;
  /** A sink said "unavailable, try later": the batch waits for it (not a dead letter). */
  sinkUnavailable(sink: string, error: unknown, delayMs: number): void;
  sinkRecovered(sink: string): void;
}

export interface BatchProcessorOptions {
  trigger: string;
  /** Absent: events pass through to every sink unchanged. */
  runner: FunctionRunner | undefined;
  sinks: readonly Sink[];
  filter: EventFilter;
  retry: RetryPolicy;
  signal: AbortSignal;
  observer?: Partial<BatchObserver>;
  /** Clock given to the function as ctx.now (tests pin it). */
  now?: () => number;
  /** Decodes Confluent-framed Avro values (sources with `format: avro`); without it such records are dead letters. */
  avro?: AvroCodec;
}

export interface BatchOutcome {
  /** Events the sinks acknowledged. */
  delivered: number;
  /** Events the trigger's operationTypes / match left out. */
  filtered: number;
  deadLetters: DeadLetter[];
}

interface Item {
  record: IncomingRecord;
  event: ChangeEvent;
}

/** Thrown when the processor is stopping: the batch is abandoned uncommitted. */
export class BatchAbortedError extends ChangeflowError {
  constructor() {
    super('the trigger is stopping; batch abandoned without commit', { code: 'BATCH_ABORTED' });
  }
}

/** A function failure the same events reproduce (a throw, an invalid result), unlike a timeout or a sink error. */
function isDeterministic(error: unknown): boolean {
  return error instanceof FunctionError && !error.retriable;
}

function failureKind(error: unknown): string {
  if (error instanceof FunctionError) return `function:${error.kind}`;
  return 'sink';
}

/**
 * Turns one partition's slice of records into sink writes, with the failure rules of docs/processors.md ("Failures"):
 * a failing batch is retried with backoff; when retries run out, smaller slices are re-run (bisection)
 * until the failing events are isolated; those become dead letters and everything else is delivered,
 * in order. A function that throws or returns something invalid is not retried (the same events fail
 * the same way): the batch is bisected at once and the event that fails alone is dead-lettered.
 * Resolves only when every sink acknowledged every delivered record, so the caller may then commit.
 *
 * Two failures are not the events' fault and never produce dead letters: the trigger stopping
 * (BatchAbortedError) and a sink that reports itself unavailable (an error with `retriable: true`), for
 * which the batch waits, retrying with capped backoff, until the sink is back.
 */
export class BatchProcessor {
  private readonly sinkNames: string[];
  private readonly now: () => number;

  constructor(private readonly options: BatchProcessorOptions) {
    this.sinkNames = options.sinks.map((s) => s.name);
    this.now = options.now ?? Date.now;
  }

  async process(records: readonly IncomingRecord[]): Promise<BatchOutcome> {
    const deadLetters: DeadLetter[] = [];
    const items: Item[] = [];
    let filtered = 0;
    for (const record of records) {
      const event = isConfluentAvro(record.value) ? await this.decodeAvro(record, deadLetters) : this.decode(record, deadLetters);
      if (!event) continue;
      if (this.options.filter(event)) items.push({ record, event });
      else filtered++;
    }
    if (items.length === 0) return { delivered: 0, filtered, deadLetters };
    const failed = await this.deliverWithRetry(items);
    deadLetters.push(...failed);
    return { delivered: items.length - failed.length, filtered, deadLetters };
  }

  private decode(record: IncomingRecord, deadLetters: DeadLetter[]): ChangeEvent | undefined {
    if (record.value === null || record.value.length === 0) {
      deadLetters.push({ record, error: 'record has no value (expected a change event)', errorKind: 'decode', attempts: 1 });
      return undefined;
    }
    try {
      return parseChangeEvent(record.value);
    } catch (error) {
      deadLetters.push({ record, error: `not a change event: ${summarise(error)}`, errorKind: 'decode', attempts: 1 });
      this.options.observer?.failure?.('decode', error, 1);
      return undefined;
    }
  }

  private async decodeAvro(record: IncomingRecord, deadLetters: DeadLetter[]): Promise<ChangeEvent | undefined> {
    const { avro } = this.options;
    if (!avro || record.value === null) {
      deadLetters.push({
        record,
        error: 'the value is Avro (Confluent wire format) but this processor has no schema registry: set kafka.schemaRegistry.url',
        errorKind: 'decode',
        attempts: 1,
      });
      return undefined;
    }
    try {
      return await avro.decode(record.value, record);
    } catch (error) {
      // A registry that is down says nothing about the record: the batch is read again later.
      if (isRetriable(error)) throw error;
      deadLetters.push({ record, error: `not a change event: ${summarise(error)}`, errorKind: 'decode', attempts: 1 });
      this.options.observer?.failure?.('decode', error, 1);
      return undefined;
    }
  }

  /** The whole slice, retried per the trigger's policy; then bisected if it still fails. */
  private async deliverWithRetry(items: readonly Item[]): Promise<DeadLetter[]> {
    let attempts = 0;
    try {
      return await retry(
        (attempt) => {
          attempts = attempt;
          return this.attempt(items);
        },
        {
          attempts: this.options.retry.attempts,
          initialDelayMs: this.options.retry.initialDelayMs,
          maxDelayMs: this.options.retry.maxDelayMs,
          // The function is pure: a throw or an invalid result comes back for the same events, so
          // waiting would only stall the partition; bisection (no waits) finds the culprits at once.
          shouldRetry: (error) => !this.options.signal.aborted && !isDeterministic(error),
          onRetry: (error, attempt) => this.options.observer?.failure?.(failureKind(error), error, attempt),
          signal: this.options.signal,
        },
      );
    } catch (error) {
      this.throwIfAborted();
      this.options.observer?.failure?.(failureKind(error), error, attempts);
      if (items.length === 1) return [this.deadLetter(items[0] as Item, error, attempts)];
      return this.isolate(items, attempts);
    }
  }

  /** Re-runs halves of a failed slice (in order) until the failing events stand alone. */
  private async isolate(items: readonly Item[], attemptsSoFar: number): Promise<DeadLetter[]> {
    const middle = Math.ceil(items.length / 2);
    const out: DeadLetter[] = [];
    for (const half of [items.slice(0, middle), items.slice(middle)]) {
      if (half.length === 0) continue;
      if (half.length === 1) {
        // A single event gets the full retry policy before it is set aside.
        out.push(...(await this.deliverWithRetry(half)).map((d) => ({ ...d, attempts: d.attempts + attemptsSoFar })));
        continue;
      }
      try {
        out.push(...(await this.attempt(half)));
      } catch (error) {
        this.throwIfAborted();
        this.options.observer?.failure?.(failureKind(error), error, attemptsSoFar + 1);
        out.push(...(await this.isolate(half, attemptsSoFar + 1)));
      }
    }
    return out;
  }

  /** One try: function (or pass-through), then every sink. Resolves with the records sinks refused for good. */
  private async attempt(items: readonly Item[]): Promise<DeadLetter[]> {
    this.throwIfAborted();
    const perSink = new Map<string, { records: SinkRecord[]; items: Item[] }>(this.sinkNames.map((n) => [n, { records: [], items: [] }]));
    let actions: Action[] | undefined;
    if (this.options.runner) {
      const events = items.map((i) => i.event);
      const started = performance.now();
      let ran: number | undefined;
      try {
        actions = await this.options.runner.run(events, {
          trigger: this.options.trigger,
          now: this.now(),
          sinkNames: this.sinkNames,
          onRunTime: (seconds) => (ran = seconds),
        });
      } catch (error) {
        if (error instanceof FunctionError) throw error;
        // A custom runner's own failure: nothing says the events caused it.
        throw new FunctionError({ kind: 'runtime', functionName: this.options.trigger, message: errorMessage(error), retriable: true });
      } finally {
        const wall = (performance.now() - started) / 1000;
        // A runner that cannot tell its run time apart from waiting (an in-thread one) reports the whole call.
        if (ran === undefined) this.options.observer?.functionTime?.(wall);
        else this.options.observer?.functionTime?.(ran, Math.max(0, wall - ran));
      }
      // One action per event (the `events.map` shape) ties each action to its event; otherwise an
      // action is attributed to the batch's last event, whose offset is the one its commit covers.
      const positional = actions.length === items.length;
      actions.forEach((action, index) => {
        const item = (positional ? items[index] : items[items.length - 1]) as Item;
        const target = perSink.get(action.sink);
        // The sandbox already rejects unknown sinks; a custom runner might not.
        if (!target)
          throw new FunctionError({
            kind: 'invalid-actions',
            functionName: this.options.trigger,
            message: `actions[${index}].sink: unknown sink "${action.sink}"; this trigger has sinks: ${this.sinkNames.join(', ')}`,
          });
        target.records.push({ event: item.event, action, origin: originOf(item.record) });
        target.items.push(item);
      });
    } else {
      for (const target of perSink.values()) {
        for (const item of items) {
          target.records.push({ event: item.event, origin: originOf(item.record) });
          target.items.push(item);
        }
      }
    }
    this.throwIfAborted();
    const results = await Promise.all(this.options.sinks.map((sink) => this.write(sink, perSink.get(sink.name)?.records ?? [])));
    const rejected: DeadLetter[] = [];
    const seen = new Set<string>();
    for (const [index, sink] of this.options.sinks.entries()) {
      const refusals = results[index] ?? [];
      if (refusals.length === 0) continue;
      const target = perSink.get(sink.name);
      if (!target) continue;
      const culprits =
        actions && actions.length !== items.length
          ? await this.locate(
              items,
              refusals.map((r) => target.records[r.index]?.action),
            )
          : undefined;
      for (const refusal of refusals) {
        const sources = culprits ?? [target.items[refusal.index]];
        for (const item of sources) {
          if (!item || seen.has(item.record.offset)) continue;
          seen.add(item.record.offset);
          rejected.push({
            record: item.record,
            error: `sink "${sink.name}" refused the record: ${refusal.reason}`,
            errorKind: 'sink-rejected',
            attempts: 1,
            sink: sink.name,
          });
        }
      }
    }
    return rejected;
  }

  /**
   * Which events produced the refused actions, when the function did not return one action per event:
   * re-runs the function on each event alone and compares. If none reproduces them (a function that
   * aggregates the batch), every event of the slice is named: replaying them is harmless (idempotent sinks).
   */
  private async locate(items: readonly Item[], refused: readonly (Action | undefined)[]): Promise<Item[]> {
    const wanted = new Set(refused.filter((a): a is Action => a !== undefined).map((a) => JSON.stringify(a)));
    const found: Item[] = [];
    for (const item of items) {
      try {
        const actions = (await this.options.runner?.run([item.event], { trigger: this.options.trigger, now: this.now(), sinkNames: this.sinkNames })) ?? [];
        if (actions.some((a) => wanted.has(JSON.stringify(a)))) found.push(item);
      } catch {
        // The batch succeeded; a failure of one event alone says nothing about the refusal.
      }
    }
    return found.length > 0 ? found : [...items];
  }

  /**
   * Writes to one sink. Resolves with the records it refused for good (SinkWriteError); waits out
   * "unavailable" errors; any other error fails the attempt.
   */
  private async write(sink: Sink, records: readonly SinkRecord[]): Promise<readonly { index: number; reason: string }[]> {
    if (records.length === 0) return [];
    let waited = false;
    try {
      const refused = await retry(
        async () => {
          try {
            await sink.write(records);
            return [];
          } catch (error) {
            if (error instanceof SinkWriteError) return error.rejected.filter((r) => r.index >= 0 && r.index < records.length);
            throw error;
          }
        },
        {
          ...this.options.retry,
          attempts: Number.POSITIVE_INFINITY,
          shouldRetry: (error) => isRetriable(error) && !this.options.signal.aborted,
          onRetry: (error, _attempt, delayMs) => {
            waited = true;
            this.options.observer?.sinkUnavailable?.(sink.name, error, delayMs);
          },
          signal: this.options.signal,
        },
      );
      if (waited) this.options.observer?.sinkRecovered?.(sink.name);
      return refused;
    } catch (error) {
      this.throwIfAborted();
      throw error;
    }
  }

  private deadLetter(item: Item, error: unknown, attempts: number): DeadLetter {
    return { record: item.record, error: errorMessage(error), errorKind: failureKind(error), attempts };
  }

  private throwIfAborted(): void {
    if (this.options.signal.aborted) throw new BatchAbortedError();
  }
}

function originOf(record: IncomingRecord): SinkRecord['origin'] {
  return { topic: record.topic, partition: record.partition, offset: record.offset };
}

function summarise(error: unknown): string {
  if (error instanceof SyntaxError) return `invalid JSON (${error.message})`;
  if (typeof error === 'object' && error !== null && 'issues' in error && Array.isArray((error as { issues: unknown }).issues)) {
    const issues = (error as { issues: { path: PropertyKey[]; message: string }[] }).issues;
    return issues
      .slice(0, 3)
      .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
      .join('; ');
  }
  return errorMessage(error);
}
