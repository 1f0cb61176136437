import { Timestamp, type Document } from 'mongodb';
import { z } from 'zod';
import { canonicalText, parseCanonicalText } from '../../schemas/ejson.js';
import { ValidationError } from '../../core/errors.js';

/** Where a change stream starts: after a resume token, or at a cluster time (inclusive). */
export type StreamStart = { resumeToken: string; startAfter?: boolean } | { clusterTime: { t: number; i: number } };

const clusterTimeSchema = z.strictObject({ t: z.number().int().nonnegative(), i: z.number().int().nonnegative() });
const streamStartSchema = z.union([
  z.strictObject({ resumeToken: z.string().min(1), startAfter: z.boolean().optional() }),
  z.strictObject({ clusterTime: clusterTimeSchema }),
]);

const storedSchema = z.discriminatedUnion('phase', [
  z.strictObject({ v: z.literal(1), phase: z.literal('stream'), start: streamStartSchema, savedAt: z.string() }),
  z.strictObject({
    v: z.literal(1),
    phase: z.literal('snapshot'),
    /** Where the stream resumes once the copy is done (opened before the copy began). */
    start: streamStartSchema,
    /** `db.coll` names to copy, in order. */
    namespaces: z.array(z.string()),
    /** Index into `namespaces` of the collection being copied. */
    index: z.number().int().nonnegative(),
    /** Canonical EJSON of the last `_id` copied in that collection; absent = none yet. */
    lastKey: z.string().optional(),
    copied: z.number().int().nonnegative(),
    savedAt: z.string(),
  }),
]);

export interface SnapshotProgress {
  namespaces: string[];
  index: number;
  lastKey?: string;
  copied: number;
}

/**
 * A source's position: the only code that knows the stored format (resume token, cluster time,
 * snapshot progress). Stored as JSON under the source's name in `<prefix>.__offsets`.
 */
export class SourcePosition {
  private constructor(
    readonly start: StreamStart,
    /** Present while an initial snapshot is in progress. */
    readonly snapshot?: SnapshotProgress,
  ) {}

  /** After this resume token (the driver's `_id` of an event, or a postBatchResumeToken). */
  static afterToken(token: unknown): SourcePosition {
    return new SourcePosition({ resumeToken: canonicalText(token) });
  }

  /** At this cluster time, inclusive (repeats the event at exactly that time, never skips one). */
  static atClusterTime(time: Timestamp | { t: number; i: number }): SourcePosition {
    return new SourcePosition({ clusterTime: { t: time.t, i: time.i } });
  }

  /** A snapshot in progress: copy from `progress`, then stream from `start`. */
  static snapshotting(start: StreamStart, progress: SnapshotProgress): SourcePosition {
    return new SourcePosition(start, { ...progress, namespaces: [...progress.namespaces] });
  }

  get inSnapshot(): boolean {
    return this.snapshot !== undefined;
  }

  /** The same stream start with the snapshot finished. */
  streaming(): SourcePosition {
    return new SourcePosition(this.start);
  }

  /** After an `invalidate` event the stream must be reopened with `startAfter` (resumeAfter is refused there). */
  startingAfter(): SourcePosition {
    if (!('resumeToken' in this.start)) return this;
    return new SourcePosition({ resumeToken: this.start.resumeToken, startAfter: true }, this.snapshot);
  }

  withSnapshot(progress: SnapshotProgress): SourcePosition {
    return SourcePosition.snapshotting(this.start, progress);
  }

  /** Options for `watch()` that resume from here. */
  watchOptions(): { resumeAfter: Document } | { startAfter: Document } | { startAtOperationTime: Timestamp } {
    if ('resumeToken' in this.start) {
      const token = parseCanonicalText<Document>(this.start.resumeToken);
      return this.start.startAfter ? { startAfter: token } : { resumeAfter: token };
    }
    return { startAtOperationTime: new Timestamp({ t: this.start.clusterTime.t, i: this.start.clusterTime.i }) };
  }

  /** For logs: where this position points. */
  describe(): string {
    const start =
      'resumeToken' in this.start ? `after token ${this.start.resumeToken}` : `at cluster time ${this.start.clusterTime.t}.${this.start.clusterTime.i}`;
    if (!this.snapshot) return `stream ${start}`;
    const ns = this.snapshot.namespaces[this.snapshot.index] ?? '(done)';
    return `snapshot of ${ns} after _id ${this.snapshot.lastKey ?? '(start)'} (${this.snapshot.copied} copied), then stream ${start}`;
  }

  equals(other: SourcePosition | null): boolean {
    return other !== null && this.encode(false) === other.encode(false);
  }

  encode(withTime = true): string {
    const savedAt = withTime ? new Date().toISOString() : '';
    if (!this.snapshot) return JSON.stringify({ v: 1, phase: 'stream', start: this.start, savedAt });
    return JSON.stringify({ v: 1, phase: 'snapshot', start: this.start, ...this.snapshot, savedAt });
  }

  /** Reads a stored position; a value this code cannot read is an error naming what is wrong. */
  static decode(text: string): SourcePosition {
    const parsed = storedSchema.safeParse(JSON.parse(text));
    if (!parsed.success)
      throw new ValidationError(`stored source position is not readable: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const stored = parsed.data;
    if (stored.phase === 'stream') return new SourcePosition(stored.start);
    return SourcePosition.snapshotting(stored.start, {
      namespaces: stored.namespaces,
      index: stored.index,
      copied: stored.copied,
      ...(stored.lastKey === undefined ? {} : { lastKey: stored.lastKey }),
    });
  }
}
