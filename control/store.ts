import { ObjectId, type Collection, type Db, type Filter } from 'mongodb';
import { ApiError, failedPrecondition, invalidArgument, notFound } from './api-error.js';
import type { Principal } from './auth.js';
import type { ClaimingTrigger } from './database-claims.js';
import { FUNCTIONS, TRIGGERS, type FunctionDoc, type TriggerDoc } from './documents.js';
import { status } from '@grpc/grpc-js';
import { isDuplicateKeyError } from '../core/mongo-errors.js';

export function newId(): string {
  return new ObjectId().toHexString();
}

/**
 * The `triggers` and `functions` collections, always read and written within a caller's scope:
 * a user's filter always includes their `user_id`, so another user's object is simply not found.
 */
export class MetadataStore {
  readonly triggers: Collection<TriggerDoc>;
  readonly functions: Collection<FunctionDoc>;
  /**
   * Told of every write this process makes, so the local reconciler acts at once instead of waiting
   * for the change stream (which still informs every other instance).
   */
  onWrite: ((collection: 'triggers' | 'functions', id: string) => void) | undefined;

  constructor(db: Db) {
    this.triggers = db.collection<TriggerDoc>(TRIGGERS);
    this.functions = db.collection<FunctionDoc>(FUNCTIONS);
  }

  async ensureIndexes(): Promise<void> {
    await this.triggers.createIndex({ user_id: 1, name: 1 }, { unique: true, name: 'user_name_unique' });
    await this.triggers.createIndex({ function_id: 1 }, { name: 'function_id' });
    await this.functions.createIndex({ user_id: 1, name: 1 }, { unique: true, name: 'user_name_unique' });
  }

  /** The filter that limits a caller to their own objects (admins: everything). */
  scope(principal: Principal): { user_id?: string } {
    return principal.admin ? {} : { user_id: principal.userId };
  }

  private byId(principal: Principal, id: string): { _id: string; user_id?: string } {
    if (id === '') throw invalidArgument('id: required (the id returned by create)');
    return { _id: id, ...this.scope(principal) };
  }

  // ---- triggers

  async getTrigger(principal: Principal, id: string): Promise<TriggerDoc> {
    const doc = await this.triggers.findOne(this.byId(principal, id));
    if (!doc) throw notFound(`no trigger with id "${id}"`);
    return doc;
  }

  /** Every user's triggers, as much of them as DatabaseClaims reads. */
  async claimingTriggers(): Promise<ClaimingTrigger[]> {
    return this.triggers.find({}, { projection: { _id: 1, user_id: 1, created_at: 1, sinks: 1, config: 1 } }).toArray();
  }

  async insertTrigger(doc: TriggerDoc): Promise<TriggerDoc> {
    try {
      await this.triggers.insertOne(doc);
      this.onWrite?.('triggers', doc._id);
      return doc;
    } catch (error) {
      if (isDuplicateKeyError(error))
        throw new ApiError(
          status.ALREADY_EXISTS,
          `trigger.name: "${doc.name}" is already used by another trigger of user "${doc.user_id}"; names are unique per user`,
        );
      throw error;
    }
  }

  // Updates and deletes use updateOne/deleteOne, not findOneAnd*: mongo-java-server emits no change
  // events for findAndModify, and the reconciler lives on those events.
  async updateTrigger(principal: Principal, id: string, set: Partial<TriggerDoc>): Promise<TriggerDoc> {
    const filter = this.byId(principal, id);
    const result = await this.triggers.updateOne(filter, { $set: { ...set, updated_at: new Date() } });
    if (result.matchedCount > 0) this.onWrite?.('triggers', id);
    const doc = result.matchedCount > 0 ? await this.triggers.findOne(filter) : null;
    if (!doc) throw notFound(`no trigger with id "${id}"`);
    return doc;
  }

  async deleteTrigger(principal: Principal, id: string): Promise<TriggerDoc> {
    const filter = this.byId(principal, id);
    const doc = await this.triggers.findOne(filter);
    if (!doc || (await this.triggers.deleteOne(filter)).deletedCount === 0) throw notFound(`no trigger with id "${id}"`);
    this.onWrite?.('triggers', id);
    return doc;
  }

  findTriggers(filter: Filter<TriggerDoc>): AsyncIterable<TriggerDoc> {
    return this.triggers.find(filter).sort({ user_id: 1, name: 1 });
  }

  // ---- functions

  async getFunction(principal: Principal, id: string): Promise<FunctionDoc> {
    const doc = await this.functions.findOne(this.byId(principal, id));
    if (!doc) throw notFound(`no function with id "${id}"`);
    return doc;
  }

  /** The function a trigger of `owner` may use, or FAILED_PRECONDITION naming the field. */
  async functionForTrigger(owner: string, functionId: string, field: string): Promise<FunctionDoc> {
    const doc = await this.functions.findOne({ _id: functionId, user_id: owner });
    if (!doc) throw failedPrecondition(`${field}: no function with id "${functionId}" for user "${owner}"; create the function first`);
    return doc;
  }

  async insertFunction(doc: FunctionDoc): Promise<FunctionDoc> {
    try {
      await this.functions.insertOne(doc);
      this.onWrite?.('functions', doc._id);
      return doc;
    } catch (error) {
      if (isDuplicateKeyError(error))
        throw new ApiError(
          status.ALREADY_EXISTS,
          `function.name: "${doc.name}" is already used by another function of user "${doc.user_id}"; names are unique per user`,
        );
      throw error;
    }
  }

  async updateFunction(principal: Principal, id: string, set: Partial<FunctionDoc>): Promise<FunctionDoc> {
    const filter = this.byId(principal, id);
    const result = await this.functions.updateOne(filter, { $set: { ...set, updated_at: new Date() } });
    if (result.matchedCount > 0) this.onWrite?.('functions', id);
    const doc = result.matchedCount > 0 ? await this.functions.findOne(filter) : null;
    if (!doc) throw notFound(`no function with id "${id}"`);
    return doc;
  }

  /** Refuses while a trigger still names the function (FAILED_PRECONDITION listing them). */
  async deleteFunction(principal: Principal, id: string): Promise<FunctionDoc> {
    const existing = await this.getFunction(principal, id);
    const users = await this.triggers
      .find({ function_id: id }, { projection: { name: 1 } })
      .limit(5)
      .toArray();
    if (users.length > 0) {
      throw failedPrecondition(
        `function "${existing.name}" is used by trigger(s) ${users.map((t) => `"${t.name}"`).join(', ')}; delete them or point them at another function first`,
      );
    }
    if ((await this.functions.deleteOne(this.byId(principal, id))).deletedCount === 0) throw notFound(`no function with id "${id}"`);
    this.onWrite?.('functions', id);
    return existing;
  }

  findFunctions(filter: Filter<FunctionDoc>): AsyncIterable<FunctionDoc> {
    return this.functions.find(filter).sort({ user_id: 1, name: 1 });
  }
}
