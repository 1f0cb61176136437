import type { Collection, Db } from 'mongodb';
import { ChangeflowError } from '../../core/errors.js';
import { isDuplicateKeyError } from '../../core/mongo-errors.js';

interface LeaseDocument {
  _id: string;
  owner: string;
  expiresAt: Date;
  renewedAt: Date;
}

/** The active instance of a source lost its lease: it must stop producing at once. */
export class LeaseLostError extends ChangeflowError {
  constructor(message: string) {
    super(message, { retriable: false, code: 'LEASE_LOST' });
  }
}

/**
 * "Exactly one active instance" for a source: a document in the metadata store's `leases`
 * collection, taken with a conditional update (free, expired, or already ours) and renewed well
 * before it expires. The holder trusts its lease only until `ttl` after the start of its last
 * successful renewal, measured on its own clock, so it stops before a standby may take over.
 */
export class Lease {
  private readonly collection: Collection<LeaseDocument>;
  private heldUntil = 0;

  constructor(
    db: Db,
    readonly id: string,
    readonly owner: string,
    readonly ttlMs: number,
  ) {
    this.collection = db.collection<LeaseDocument>('leases');
  }

  /** True while this instance may act as the active one. */
  held(): boolean {
    return performance.now() < this.heldUntil;
  }

  /** Takes or renews the lease; false when another live instance holds it. */
  async acquire(): Promise<boolean> {
    const started = performance.now();
    const now = new Date();
    try {
      const result = await this.collection.findOneAndUpdate(
        { _id: this.id, $or: [{ owner: this.owner }, { expiresAt: { $lt: now } }] },
        { $set: { owner: this.owner, expiresAt: new Date(now.getTime() + this.ttlMs), renewedAt: now } },
        { upsert: true, returnDocument: 'after' },
      );
      const ours = result?.owner === this.owner;
      this.heldUntil = ours ? started + this.ttlMs : 0;
      return ours;
    } catch (error) {
      // The upsert collided with a live lease of another instance.
      if (isDuplicateKeyError(error)) {
        this.heldUntil = 0;
        return false;
      }
      throw error;
    }
  }

  /** Who holds the lease now (for logs), or null. */
  async holder(): Promise<{ owner: string; expiresAt: Date } | null> {
    const doc = await this.collection.findOne({ _id: this.id });
    return doc ? { owner: doc.owner, expiresAt: doc.expiresAt } : null;
  }

  /** Gives the lease up so a standby can take over without waiting for expiry. */
  async release(): Promise<void> {
    this.heldUntil = 0;
    await this.collection.updateOne({ _id: this.id, owner: this.owner }, { $set: { expiresAt: new Date(0) } });
  }
}
