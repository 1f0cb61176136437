import type { MongoClient } from 'mongodb';
import type { ChangeEvent } from '../../schemas/envelope.js';
import { defaultStateDb, echoEntryId, echoes, postImageHash } from '../../schemas/echo-ledger.js';
import { idTextOf, toBsonDocument } from '../../schemas/values.js';

/**
 * Recognises changes that changeflow's own MongoDB sink wrote into this cluster, so that a
 * bidirectional sync (A→B and B→A) does not echo them back (docs/sinks.md "Bidirectional sync").
 *
 * The sink (with `echoLedger: true`) records, before each write, the namespace, `_id` and a hash of
 * the document it is about to leave behind (or "deleted") in `<stateDb>.echoes` on the target cluster.
 * An event of this cluster that carries exactly that post-image is the sink's own write: it is dropped
 * and the entry consumed. Needs the post-image on insert/replace/update events (`fullDocument:
 * updateLookup`, the source default); an update without one is passed on (its echo then ends at the
 * other side's sink, which skips writes that change nothing). Changes to the state database itself
 * are always dropped. See docs/sinks.md "Bidirectional sync".
 */
export interface EchoFilter {
  /** Returns the events that are NOT echoes of changeflow's own writes, in the same order. */
  drop(events: readonly ChangeEvent[]): Promise<ChangeEvent[]>;
}

export interface EchoFilterOptions {
  sourceName: string;
  /** Where the sinks keep their ledger on this cluster (the sinks' `stateDb`). */
  stateDb?: string;
  /** Called with the number of events dropped as echoes (metrics, tests). */
  onDropped?: (count: number) => void;
}

function candidateId(event: ChangeEvent): string | undefined {
  if (!event.ns.coll) return undefined;
  const idText = idTextOf(event.documentKey) ?? (event.fullDocument ? idTextOf(event.fullDocument) : undefined);
  if (idText === undefined) return undefined;
  if (event.op === 'delete') return echoEntryId(event.ns.db, event.ns.coll, idText, null);
  if (event.op !== 'insert' && event.op !== 'replace' && event.op !== 'update') return undefined;
  if (!event.fullDocument) return undefined;
  return echoEntryId(event.ns.db, event.ns.coll, idText, postImageHash(toBsonDocument(event.fullDocument)));
}

export function createEchoFilter(client: MongoClient, options: EchoFilterOptions): EchoFilter {
  const stateDbName = options.stateDb ?? defaultStateDb;
  const ledger = echoes(client.db(stateDbName));
  return {
    async drop(events) {
      const candidates = events.map((e) => (e.ns.db === stateDbName ? undefined : candidateId(e)));
      const ids = [...new Set(candidates.filter((c): c is string => c !== undefined))];
      const available = new Map<string, number>();
      if (ids.length > 0) {
        for (const entry of await ledger.find({ _id: { $in: ids }, n: { $gt: 0 } }).toArray()) available.set(entry._id, entry.n);
      }
      const consumed = new Map<string, number>();
      const kept: ChangeEvent[] = [];
      events.forEach((event, i) => {
        if (event.ns.db === stateDbName) return;
        const id = candidates[i];
        const left = id === undefined ? 0 : (available.get(id) ?? 0);
        if (id !== undefined && left > 0) {
          available.set(id, left - 1);
          consumed.set(id, (consumed.get(id) ?? 0) + 1);
          return;
        }
        kept.push(event);
      });
      if (consumed.size > 0) {
        await ledger.bulkWrite(
          [...consumed].map(([_id, n]) => ({ updateOne: { filter: { _id }, update: { $inc: { n: -n } } } })),
          { ordered: false },
        );
        await ledger.deleteMany({ _id: { $in: [...consumed.keys()] }, n: { $lte: 0 } });
      }
      const dropped = events.length - kept.length;
      if (dropped > 0) options.onDropped?.(dropped);
      return kept;
    },
  };
}
