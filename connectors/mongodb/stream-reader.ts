import type { Document } from 'mongodb';
import { errorMessage } from '../../core/errors.js';
import type { OutgoingRecord } from '../../core/kafka/transport.js';
import { isHistoryLost, isNotReplicaSet, isUnsupportedCommand } from '../../core/mongo-errors.js';
import { sleep } from '../../core/retry.js';
import { canonicalText } from '../../schemas/ejson.js';
import type { ChangeEvent } from '../../schemas/envelope.js';
import { encodeChange, UnplacedChangeError, type EncoderContext } from './change-encoder.js';
import { changeTopics } from './change-records.js';
import { LeaseLostError } from './lease.js';
import type { OrderedSender } from './ordered-sender.js';
import { RawChangeStream } from './raw-change-stream.js';
import { ReadSizer } from './read-sizer.js';
import { changeFromBytes, fromEncoded, type SourceChange } from './source-change.js';
import { SourceFatalError } from './source-errors.js';
import { SourcePosition } from './source-position.js';
import type { Acked, SourceSession } from './source-session.js';
import { SplitEventJoiner, SplitFragment } from './split-events.js';

/** An empty change-stream read that took less than this was not held by the server. */
const IDLE_READ_HELD_MS = 50;
/** First pause after such a read; it doubles while reads stay empty, up to `maxAwaitMs`. */
const IDLE_PAUSE_MIN_MS = 5;

/** What one change-stream read returned: its events, the position after them, and how long it took. */
interface ReadBatch {
  /** Each event's BSON bytes, as the server sent them. */
  events: Uint8Array[];
  token: Document | null;
  elapsedMs: number;
}

/** Why streaming ended: the source stops; the stream was invalidated and reopens after the event; the oplog lost the position. */
export type StreamEnd = { kind: 'stopped' } | { kind: 'reopen'; position: SourcePosition } | { kind: 'history-lost'; acked: SourcePosition };

/** Operations whose events name no document by nature. */
const hasNoDocumentKeyOnPurpose = new Set(['drop', 'rename', 'dropDatabase', 'invalidate']);

/**
 * The streaming half of a source: reads the change stream from a position, encodes each event,
 * drops echoes, hands the records to Kafka in order and stores the position behind the
 * acknowledgements (heartbeats keep an idle position inside the oplog).
 */
export class StreamReader {
  private stream: RawChangeStream | null = null;
  /** Fragments of a split large event read so far (`$changeStreamSplitLargeEvent` in the pipeline). */
  private readonly fragments = new SplitEventJoiner();

  constructor(private readonly session: SourceSession) {}

  /** Ends a read the server holds, so a stopping source does not wait for it. */
  async close(): Promise<void> {
    await this.stream?.close().catch(() => undefined);
    this.stream = null;
  }

  async streamFrom(position: SourcePosition): Promise<StreamEnd> {
    const { session } = this;
    const { config, progress, signal } = session.parts;
    let acked = position;
    const sender = session.newSender((a) => (acked = a.position));
    const stream = this.open(position);
    this.stream = stream;
    this.fragments.reset();
    let lastHeartbeatToken: string | null = null;
    let idlePauseMs = 0;
    // The next getMore, issued while the previous batch is encoded and handed to Kafka, so the
    // server's read and our CPU work overlap instead of taking turns.
    let readAhead: Promise<ReadBatch> | null = null;
    const sizer = new ReadSizer(config.batchSize, config.maxBatchSize ?? config.batchSize * 4);
    session.log.info({ position: position.describe() }, 'streaming');
    try {
      while (!session.stopping) {
        session.parts.assertLease();
        const batch = await (readAhead ?? this.readBatch(stream));
        readAhead = null;
        if (session.stopping) break;
        stream.readSize = sizer.observe(batch.events.length);
        if (batch.events.length === 0) {
          progress.caughtUp = sender.inFlight === 0;
          // Heartbeat: an idle stream still advances its postBatchResumeToken; store it so the position stays inside the oplog.
          const token = batch.token;
          // Inside a split event the position stays before its first fragment, so a restart reads it whole.
          if (token && !this.fragments.pending) {
            const text = canonicalText(token);
            if (text !== lastHeartbeatToken) {
              lastHeartbeatToken = text;
              await sender.submit([], { position: SourcePosition.afterToken(token), counts: new Map() });
            }
          }
          const due = Date.now() - progress.lastSavedAt >= (acked === progress.lastSaved ? config.heartbeatMs : config.checkpointIntervalMs);
          if (sender.inFlight === 0 && due) await session.save(acked);
          if (batch.elapsedMs < IDLE_READ_HELD_MS) {
            // The server answered an empty read at once instead of holding it (mongo-java-server ignores
            // maxAwaitTimeMS): poll again soon after a change, backing off to maxAwaitMs while idle.
            idlePauseMs = Math.min(config.maxAwaitMs, Math.max(IDLE_PAUSE_MIN_MS, idlePauseMs * 2));
            await sleep(idlePauseMs, signal).catch(() => undefined);
          }
          continue;
        }
        idlePauseMs = 0;
        progress.caughtUp = false;
        const changes = this.prepareChanges(batch.events);
        // A batch that ends inside a split event: stored positions stop after its last whole change.
        const batchToken = this.fragments.pending ? null : batch.token;
        if (changes.length === 0) {
          // Every event of the batch was left out (unplaced): move the position past them all the same.
          if (batchToken) await sender.submit([], { position: SourcePosition.afterToken(batchToken), counts: new Map() });
          continue;
        }
        const invalidated = changes.some((c) => c.op === 'invalidate');
        if (!invalidated) {
          readAhead = this.readBatch(stream);
          readAhead.catch(() => undefined); // awaited (and its error handled) at the top of the loop or below
        }
        await this.submitChanges(sender, changes, batchToken);
        await session.maybeCheckpoint(acked);
        if (invalidated) {
          await sender.drain();
          await session.save(acked);
          session.log.warn('change stream invalidated (watched collection or database dropped or renamed); reopening after the invalidate event');
          await stream.close().catch(() => undefined);
          return { kind: 'reopen', position: acked.startingAfter() };
        }
      }
    } catch (error) {
      await readAhead?.catch(() => undefined);
      await sender.settle();
      if (session.stopping) {
        await session.save(acked).catch(() => undefined);
        return { kind: 'stopped' };
      }
      const fatal = this.fatalOpenError(error);
      if (fatal) throw fatal;
      if (isHistoryLost(error)) return { kind: 'history-lost', acked };
      // Everything acknowledged so far is safe to store; the rest is re-read after the retry.
      if (!(error instanceof LeaseLostError)) await session.save(acked).catch(() => undefined);
      throw error;
    }
    await readAhead?.catch(() => undefined);
    await sender.drain();
    await session.save(acked);
    return { kind: 'stopped' };
  }

  private open(position: SourcePosition): RawChangeStream {
    const { config, client } = this.session.parts;
    const pipeline: Document[] = [];
    if (config.operationTypes) pipeline.push({ $match: { operationType: { $in: config.operationTypes } } });
    pipeline.push(...(config.pipeline as Document[]));
    return new RawChangeStream(client, config.watch, {
      start: position.watchOptions(),
      pipeline,
      batchSize: config.batchSize,
      maxAwaitTimeMS: config.maxAwaitMs,
      ...(config.fullDocument === 'default' ? {} : { fullDocument: config.fullDocument }),
      ...(config.fullDocumentBeforeChange === 'off' ? {} : { fullDocumentBeforeChange: config.fullDocumentBeforeChange }),
    });
  }

  /** Explains errors of opening a stream that no retry fixes; null for the others. */
  private fatalOpenError(error: unknown): SourceFatalError | null {
    const { name, watch, uri } = this.session.config;
    if (isNotReplicaSet(error)) {
      return new SourceFatalError(
        `source "${name}": ${uri.replace(/\/\/[^@/]*@/, '//***@')} does not support change streams: it is not a replica set or sharded cluster (a standalone mongod cannot be watched; start it as a one-node replica set). Server said: ${errorMessage(error)}`,
        error,
      );
    }
    if (isUnsupportedCommand(error) && !watch.db) {
      return new SourceFatalError(
        `source "${name}": this server cannot watch a whole cluster (${errorMessage(error)}); watch a database or collection instead`,
        error,
      );
    }
    return null;
  }

  private async readBatch(stream: RawChangeStream): Promise<ReadBatch> {
    const started = performance.now();
    const { events, token } = await stream.next();
    this.session.parts.metrics.streamReads.inc({ source: this.session.config.name, result: events.length > 0 ? 'events' : 'empty' });
    return { events, token, elapsedMs: performance.now() - started };
  }

  /** Encodes a batch's events; as objects only when each envelope is read here (echo filter, Avro). */
  private prepareChanges(events: readonly Uint8Array[]): SourceChange[] {
    const { encoder, echo, valueEncoder } = this.session.parts;
    const needEvent = echo !== null || valueEncoder !== undefined;
    const changes: SourceChange[] = [];
    for (const bytes of events) {
      try {
        const change = this.changeOf(bytes, encoder, needEvent);
        if (change) changes.push(change);
      } catch (error) {
        if (!(error instanceof UnplacedChangeError)) throw error;
        this.noteUnplaced(error);
      }
    }
    return changes;
  }

  /** One event's change; null for a fragment of a split event that is not complete yet. */
  private changeOf(bytes: Uint8Array, encoder: EncoderContext, needEvent: boolean): SourceChange | null {
    try {
      return changeFromBytes(bytes, encoder, needEvent);
    } catch (error) {
      if (!(error instanceof SplitFragment)) throw error;
      const whole = this.fragments.add(error.fragment);
      return whole === null ? null : fromEncoded(encodeChange(whole, encoder), () => whole['_id']);
    }
  }

  /** An event published under a guessed namespace could be a false drop: count it, say so, go on. */
  private noteUnplaced(error: UnplacedChangeError): void {
    const { progress, metrics, report } = this.session.parts;
    progress.unplaced += 1;
    metrics.unplaced.inc({ source: this.session.config.name, op: error.op });
    this.session.log.warn({ op: error.op, unplaced: progress.unplaced }, error.message);
    report(true, `streaming; ${progress.unplaced} event(s) without a namespace not published (last: ${error.op}); see changeflow_source_unplaced_events_total`);
  }

  /** Filters echoes, splits by bytes and submits; each part carries the position after its last event. */
  private async submitChanges(sender: OrderedSender<Acked>, encoded: SourceChange[], batchToken: Document | null): Promise<void> {
    const { echo, avro, valueEncoder, topics, router, admin, metrics, assertLease } = this.session.parts;
    const { config, log } = this.session;
    let kept = encoded;
    if (echo) {
      const events = encoded.map((c) => c.event());
      const survivors = new Set(await echo.drop(events));
      kept = encoded.filter((_, i) => survivors.has(events[i] as ChangeEvent));
    }
    const keptSet = new Set(kept);
    if (valueEncoder) await avro?.ready(new Set(kept.flatMap((k) => changeTopics(k, topics, config.topic))));
    let part: OutgoingRecord[] = [];
    let partBytes = 0;
    let counts = new Map<string, number>();
    let clusterTime: { t: number; i: number } | undefined;
    const flush = async (position: SourcePosition): Promise<void> => {
      assertLease();
      await router.ensureTopics(admin, part);
      await sender.submit(part, { position, counts, ...(clusterTime ? { clusterTime } : {}) });
      part = [];
      partBytes = 0;
      counts = new Map();
    };
    for (let i = 0; i < encoded.length; i++) {
      const change = encoded[i];
      if (!change) continue;
      if (keptSet.has(change)) {
        if (change.key === null && !change.hasDocumentKey && !hasNoDocumentKeyOnPurpose.has(change.op)) {
          metrics.unkeyed.inc({ source: config.name });
          log.warn(
            { id: change.id, op: change.op },
            "the server did not supply this change's document _id (mongo-java-server update without a document to look up); keyed by namespace",
          );
        }
        partBytes += router.add(part, change);
        counts.set(change.op, (counts.get(change.op) ?? 0) + 1);
        if (change.clusterTime) clusterTime = change.clusterTime;
      }
      const isLast = i === encoded.length - 1;
      if (isLast) await flush(SourcePosition.afterToken(batchToken ?? change.token()));
      else if (partBytes >= config.maxBatchBytes) await flush(SourcePosition.afterToken(change.token()));
    }
  }
}
