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

const rangeSchema = z.strictObject({
  /** `db.coll` of the range. */
  ns: z.string(),
  /** Canonical EJSON `{ _id }` of the range's first `_id` (inclusive); absent = from the lowest. */
  from: z.string().optional(),
  /** Canonical EJSON `{ _id }` where the next range starts (exclusive); absent = to the highest. */
  until: z.string().optional(),
  /** Canonical EJSON `{ _id }` of the collection's lowest / highest `_id` when the copy was planned (first / last range). */
  lowestId: z.string().optional(),
  highestId: z.string().optional(),
  /** Canonical EJSON `{ _id }` of the last document copied in this range and acknowledged by Kafka; absent = none yet. */
  lastKey: z.string().optional(),
  copied: z.number().int().nonnegative(),
  done: z.boolean().optional(),
});

const streamSchema = z.strictObject({ v: z.literal(1), phase: z.literal('stream'), start: streamStartSchema, savedAt: z.string() });

/** Written before parallel snapshots (one collection at a time, one `_id` cursor each); still read. */
const sequentialSnapshotSchema = z.strictObject({
  v: z.literal(1),
  phase: z.literal('snapshot'),
  start: streamStartSchema,
  namespaces: z.array(z.string()),
  /** Index into `namespaces` of the collection being copied. */
  index: z.number().int().nonnegative(),
  /** Canonical EJSON of the last `_id` copied in that collection; absent = none yet. */
  lastKey: z.string().optional(),
  copied: z.number().int().nonnegative(),
  savedAt: z.string(),
});

const rangedSnapshotSchema = z.strictObject({
  v: z.literal(2),
  phase: z.literal('snapshot'),
  /** Where the stream resumes once the copy is done (opened before the copy began). */
  start: streamStartSchema,
  /** Every range to copy, in order; each collection's ranges are disjoint and cover all its `_id`s. */
  ranges: z.array(rangeSchema),
  copied: z.number().int().nonnegative(),
  savedAt: z.string(),
});

const storedSchema = z.discriminatedUnion('phase', [streamSchema, z.discriminatedUnion('v', [rangedSnapshotSchema, sequentialSnapshotSchema])]);

/** A part of a collection copied by its own cursor, and how far that copy got. */
export type SnapshotRange = z.output<typeof rangeSchema>;

export interface SnapshotProgress {
  ranges: SnapshotRange[];
  /** Documents copied (and acknowledged) over every range. */
  copied: number;
}

/** The old one-collection-at-a-time progress as ranges: done before `index`, resuming there after `lastKey`. */
function rangesOfSequential(stored: z.output<typeof sequentialSnapshotSchema>): SnapshotRange[] {
  return stored.namespaces.map((ns, i) => ({
    ns,
    copied: 0,
    ...(i < stored.index ? { done: true } : {}),
    ...(i === stored.index && stored.lastKey !== undefined ? { lastKey: stored.lastKey } : {}),
  }));
}

/** For logs: the range's collection and bounds. */
export function rangeName(range: SnapshotRange): string {
  if (range.from === undefined && range.until === undefined) return range.ns;
  return `${range.ns}[${range.from ?? 'lowest'}, ${range.until ?? 'highest'})`;
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
    return new SourcePosition(start, { copied: progress.copied, ranges: progress.ranges.map((r) => ({ ...r })) });
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
    const { ranges, copied } = this.snapshot;
    const open = ranges.filter((r) => !r.done);
    // The first few only: a whole cluster's snapshot may hold thousands of collections.
    const shown = open.slice(0, 4).map((r) => `${rangeName(r)} after _id ${r.lastKey ?? '(start)'}`);
    const where = [...shown, ...(open.length > shown.length ? [`${open.length - shown.length} more`] : [])].join('; ');
    return `snapshot of ${where || '(done)'} (${ranges.length - open.length}/${ranges.length} ranges done, ${copied} copied), then stream ${start}`;
  }

  equals(other: SourcePosition | null): boolean {
    return other !== null && this.encode(false) === other.encode(false);
  }

  encode(withTime = true): string {
    const savedAt = withTime ? new Date().toISOString() : '';
    if (!this.snapshot) return JSON.stringify({ v: 1, phase: 'stream', start: this.start, savedAt });
    return JSON.stringify({ v: 2, phase: 'snapshot', start: this.start, ranges: this.snapshot.ranges, copied: this.snapshot.copied, savedAt });
  }

  /** Reads a stored position; a value this code cannot read is an error naming what is wrong. */
  static decode(text: string): SourcePosition {
    const parsed = storedSchema.safeParse(JSON.parse(text));
    if (!parsed.success)
      throw new ValidationError(`stored source position is not readable: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const stored = parsed.data;
    if (stored.phase === 'stream') return new SourcePosition(stored.start);
    if (stored.v === 2) return SourcePosition.snapshotting(stored.start, { ranges: stored.ranges, copied: stored.copied });
    return SourcePosition.snapshotting(stored.start, { ranges: rangesOfSequential(stored), copied: stored.copied });
  }
}
