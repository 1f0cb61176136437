import type { ChangeEvent, ChangeOperation } from '../../schemas/envelope.js';
import { encodeChange, encodeSnapshotDocument, type EncodedChange, type EncoderContext, type SnapshotContext } from './change-encoder.js';
import { encodeRawChange } from './raw-change-encoder.js';
import { encodeRawSnapshotDocument } from './raw-snapshot-encoder.js';
import { decodeSourceBson } from './raw-change-stream.js';
import { SplitFragment } from './split-events.js';

/**
 * One change as the source hands it to Kafka: the envelope's header fields, its record key and,
 * from the raw path, the record value already serialized. The whole envelope object is built only
 * when something needs it (Avro, the echo filter, an oversized event's dead letter).
 */
export interface SourceChange {
  readonly id: string;
  readonly op: ChangeOperation;
  readonly ns: ChangeEvent['ns'];
  /** Canonical EJSON of the documentKey; null when the event has none. */
  readonly key: string | null;
  readonly hasDocumentKey: boolean;
  readonly clusterTime?: { t: number; i: number } | undefined;
  /** The JSON record value, when the raw path wrote it; otherwise `JSON.stringify(event())`. */
  readonly json?: Buffer | undefined;
  event(): ChangeEvent;
  /** This change's resume token (undefined for snapshot documents). */
  token(): unknown;
}

/** A change built as objects (snapshot documents, the fallback of the raw path). */
export function fromEncoded(encoded: EncodedChange, token: () => unknown = () => undefined): SourceChange {
  const { event, key } = encoded;
  return {
    id: event.id,
    op: event.op,
    ns: event.ns,
    key,
    hasDocumentKey: event.documentKey !== undefined,
    clusterTime: event.clusterTime,
    event: () => event,
    token,
  };
}

/**
 * A change event's BSON bytes → a SourceChange: straight to the record value's bytes where the
 * raw encoder can reproduce the object path exactly, through the driver's objects otherwise (and
 * always when `needEvent`: the caller reads every envelope). Throws SplitFragment for a fragment of a
 * split event, which the caller joins (see split-events.ts).
 */
export function changeFromBytes(bytes: Uint8Array, context: EncoderContext, needEvent: boolean): SourceChange {
  const raw = needEvent ? null : encodeRawChange(bytes, context);
  if (raw === null) {
    const decoded = decodeSourceBson(bytes);
    if (decoded['splitEvent'] !== undefined) throw new SplitFragment(decoded);
    return fromEncoded(encodeChange(decoded, context), () => decoded['_id']);
  }
  let event: ChangeEvent | undefined;
  return {
    id: raw.id,
    op: raw.op,
    ns: raw.ns,
    key: raw.key,
    hasDocumentKey: raw.hasDocumentKey,
    clusterTime: raw.clusterTime,
    json: raw.value,
    event: () => (event ??= encodeChange(decodeSourceBson(bytes), context).event),
    token: () => decodeSourceBson(bytes)['_id'],
  };
}

/**
 * A document the snapshot copies, from its BSON bytes → a SourceChange, as changeFromBytes does for
 * change events: the record value straight from the bytes where that is exact, else through objects.
 */
export function snapshotFromBytes(bytes: Uint8Array, ns: { db: string; coll: string }, context: SnapshotContext, needEvent: boolean): SourceChange {
  const raw = needEvent ? null : encodeRawSnapshotDocument(bytes, ns, context);
  if (raw === null) return fromEncoded(encodeSnapshotDocument(decodeSourceBson(bytes), ns, context));
  let event: ChangeEvent | undefined;
  return {
    id: raw.id,
    op: 'snapshot',
    ns,
    key: raw.key,
    hasDocumentKey: true,
    json: raw.value,
    event: () => (event ??= encodeSnapshotDocument(decodeSourceBson(bytes), ns, context).event),
    token: () => undefined,
  };
}
