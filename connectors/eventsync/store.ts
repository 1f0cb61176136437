import type { Collection, Db } from 'mongodb';
import type { SyncEvent } from './message.js';
import { isDuplicateKeyError } from '../../core/mongo-errors.js';

/** An event document in the service's collection. `claimId` marks events taken by one trigger run. */
export interface EventDoc {
  _id: string;
  eventKey: string;
  datetime: Date;
  headers: Record<string, string[]>;
  queryParams: Record<string, string[]>;
  content: string;
  /** Set when the body was not valid UTF-8 and `content` is its base64. */
  encoding?: 'base64';
  exported: boolean;
  claimId: string | null;
  claimedAt: Date | null;
  exportedAt?: Date;
  /** Set when the message holding the event was rejected as oversized. */
  rejected?: string;
}

/**
 * A trigger run in flight. `claiming`: events are being claimed (a run that dies here is undone);
 * `publishing`: the set is fixed in `eventIds` (a run that dies here is finished by another instance).
 */
export interface ClaimDoc {
  _id: string;
  state: 'claiming' | 'publishing';
  owner: string;
  leaseUntil: Date;
  createdAt: Date;
  manual: boolean;
  eventIds: string[];
  /** Reception time of the newest claimed event, for trigger latency. */
  newestEventAt?: Date;
}

export type EventRef = Pick<EventDoc, '_id' | 'eventKey' | 'datetime'>;

export function toSyncEvent(doc: EventDoc): SyncEvent {
  return {
    id: doc._id,
    eventKey: doc.eventKey,
    datetime: doc.datetime,
    headers: doc.headers,
    queryParams: doc.queryParams,
    content: doc.content,
    ...(doc.encoding ? { encoding: doc.encoding } : {}),
  };
}

/**
 * Events and claims of one EventSync service. Only single-document conditional updates are used
 * (no transactions): a claim is an `updateMany` filtered on "not claimed", read back by claim id.
 */
export class EventStore {
  readonly events: Collection<EventDoc>;
  readonly claims: Collection<ClaimDoc>;

  constructor(db: Db, names: { events: string; claims: string }) {
    this.events = db.collection<EventDoc>(names.events);
    this.claims = db.collection<ClaimDoc>(names.claims);
  }

  async init(): Promise<void> {
    await this.events.createIndex({ exported: 1, claimId: 1, datetime: 1 });
    await this.events.createIndex({ claimId: 1 });
    await this.claims.createIndex({ leaseUntil: 1 });
  }

  /** Stores events; ids already present are skipped (a Kafka record read twice). Returns how many were new. */
  async insert(events: readonly SyncEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const docs: EventDoc[] = events.map((e) => ({
      _id: e.id,
      eventKey: e.eventKey,
      datetime: e.datetime,
      headers: e.headers,
      queryParams: e.queryParams,
      content: e.content,
      ...(e.encoding ? { encoding: e.encoding } : {}),
      exported: false,
      claimId: null,
      claimedAt: null,
    }));
    let inserted = 0;
    for (const doc of docs) {
      try {
        await this.events.insertOne(doc);
        inserted++;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
    }
    return inserted;
  }

  /** Unexported, unclaimed events received at or after `since`. */
  eligible(since: Date): Promise<EventRef[]> {
    return this.events
      .find({ exported: false, claimId: null, datetime: { $gte: since } }, { projection: { _id: 1, eventKey: 1, datetime: 1 } })
      .toArray() as Promise<EventRef[]>;
  }

  async openClaim(claim: ClaimDoc): Promise<void> {
    await this.claims.insertOne(claim);
  }

  /** Takes the listed events that nobody has claimed or exported yet; returns the ones this claim holds. */
  async claimEvents(claimId: string, ids: readonly string[], at: Date): Promise<EventRef[]> {
    await this.events.updateMany({ _id: { $in: [...ids] }, claimId: null, exported: false }, { $set: { claimId, claimedAt: at } });
    return this.events.find({ claimId, exported: false }, { projection: { _id: 1, eventKey: 1, datetime: 1 } }).toArray() as Promise<EventRef[]>;
  }

  /** `claiming` → `publishing`, only if this owner still holds the claim. */
  async beginPublishing(claimId: string, owner: string, eventIds: readonly string[], leaseUntil: Date, newestEventAt: Date): Promise<boolean> {
    const result = await this.claims.updateOne(
      { _id: claimId, owner, state: 'claiming' },
      { $set: { state: 'publishing', eventIds: [...eventIds], leaseUntil, newestEventAt } },
    );
    return result.modifiedCount === 1;
  }

  eventsByIds(ids: readonly string[]): Promise<EventDoc[]> {
    return this.events.find({ _id: { $in: [...ids] } }).toArray();
  }

  async releaseEvents(claimId: string): Promise<void> {
    await this.events.updateMany({ claimId }, { $set: { claimId: null, claimedAt: null } });
  }

  async markExported(claimId: string, at: Date): Promise<void> {
    await this.events.updateMany({ claimId }, { $set: { exported: true, exportedAt: at } });
  }

  async markRejected(claimId: string, at: Date, reason: string): Promise<void> {
    await this.events.updateMany({ claimId }, { $set: { exported: true, exportedAt: at, rejected: reason } });
  }

  /** Flags single events of a claim rejected (each too large for any message) and takes them out of it. */
  async markEventsRejected(ids: readonly string[], at: Date, reason: string): Promise<void> {
    await this.events.updateMany({ _id: { $in: [...ids] } }, { $set: { exported: true, exportedAt: at, rejected: reason, claimId: null, claimedAt: null } });
  }

  async closeClaim(claimId: string, owner: string): Promise<void> {
    await this.claims.deleteOne({ _id: claimId, owner });
  }

  expiredClaims(now: Date): Promise<ClaimDoc[]> {
    return this.claims.find({ leaseUntil: { $lt: now } }).toArray();
  }

  /** Moves an expired claim to `owner`; false if someone else renewed or took it first. */
  async takeOver(claim: ClaimDoc, owner: string, leaseUntil: Date): Promise<boolean> {
    const result = await this.claims.updateOne({ _id: claim._id, owner: claim.owner, leaseUntil: claim.leaseUntil }, { $set: { owner, leaseUntil } });
    return result.modifiedCount === 1;
  }

  /** Claim ids on unexported events claimed before `before` whose claim document is gone. */
  async orphanClaimIds(before: Date): Promise<string[]> {
    const ids = (await this.events.distinct('claimId', { exported: false, claimId: { $ne: null }, claimedAt: { $lt: before } })) as (string | null)[];
    const orphans: string[] = [];
    for (const id of ids) if (id !== null && (await this.claims.countDocuments({ _id: id })) === 0) orphans.push(id);
    return orphans;
  }

  /** Flags every unexported event received at or after `since` as exported; returns how many. */
  async reset(since: Date, at: Date): Promise<number> {
    const result = await this.events.updateMany({ exported: false, datetime: { $gte: since } }, { $set: { exported: true, exportedAt: at } });
    return result.modifiedCount;
  }

  /** Unexported events per eventKey (for status). */
  async pendingCounts(since: Date): Promise<Record<string, number>> {
    const rows = await this.events
      .aggregate<{ _id: string; n: number }>([{ $match: { exported: false, datetime: { $gte: since } } }, { $group: { _id: '$eventKey', n: { $sum: 1 } } }])
      .toArray();
    return Object.fromEntries(rows.map((r) => [r._id, r.n]));
  }
}
