import { defaultStateDb } from '../schemas/echo-ledger.js';
import type { TriggerDoc } from './documents.js';

/** What claims read of a stored trigger. */
export type ClaimingTrigger = Pick<TriggerDoc, '_id' | 'user_id' | 'created_at' | 'sinks' | 'config'>;

/** Who a database belongs to, as far as tenants' MongoDB sinks are concerned. */
export type DatabaseOwner = { kind: 'operator' } | { kind: 'tenant'; userId: string };

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * The databases a trigger uses, lower-cased (MongoDB reaches case variants of a name as one
 * database): those its MongoDB sinks write (`db`, and `stateDb` when set to one of its own) and
 * the one its own `data_source` reads.
 */
export function databasesUsedBy(trigger: Pick<TriggerDoc, 'sinks' | 'config'>): string[] {
  const names = trigger.sinks.filter((s) => s.kind === 'mongodb').flatMap((s) => [str(s.options['db']), str(s.options['stateDb'])]);
  const source = trigger.config.database;
  if (source?.data_source) names.push(str(source.database));
  // The sinks' shared state database is everyone's: its records are keyed by target database.
  return [...new Set(names.filter((n): n is string => n !== undefined).map((n) => n.toLowerCase()))].filter((n) => n !== defaultStateDb);
}

/**
 * Which tenant or the operator each database belongs to, so that one tenant's MongoDB sink never
 * writes a database another tenant or the operator uses (their copy, their source). A database
 * belongs to the operator when a config source watches it, a config trigger or an admin's trigger
 * uses it; otherwise to the tenant whose trigger using it was created first (ties: the smaller
 * trigger id), so two tenants racing for a name end with exactly one owner. Names are compared
 * across servers: a URI names a server in many spellings (aliases, options, credentials), a name
 * does not.
 */
export class DatabaseClaims {
  private readonly owners = new Map<string, DatabaseOwner & { since?: number; by?: string }>();

  constructor(triggers: readonly ClaimingTrigger[], operatorDatabases: Iterable<string>, isAdmin: (userId: string) => boolean) {
    for (const db of operatorDatabases) this.owners.set(db.toLowerCase(), { kind: 'operator' });
    const ordered = [...triggers].sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
    for (const trigger of ordered) {
      const admin = isAdmin(trigger.user_id);
      for (const db of databasesUsedBy(trigger)) {
        const current = this.owners.get(db);
        if (admin) this.owners.set(db, { kind: 'operator' });
        else if (!current) this.owners.set(db, { kind: 'tenant', userId: trigger.user_id, since: trigger.created_at.getTime(), by: trigger._id });
      }
    }
  }

  static empty(): DatabaseClaims {
    return new DatabaseClaims([], [], () => false);
  }

  ownerOf(db: string): DatabaseOwner | undefined {
    const owner = this.owners.get(db.toLowerCase());
    if (!owner) return undefined;
    return owner.kind === 'operator' ? { kind: 'operator' } : { kind: 'tenant', userId: owner.userId };
  }

  /** Why `userId`'s trigger may not write `db`, or undefined when it may (no one else uses it). */
  refusal(userId: string, db: string): string | undefined {
    const owner = this.ownerOf(db);
    if (!owner || (owner.kind === 'tenant' && owner.userId === userId)) return undefined;
    const whose =
      owner.kind === 'operator' ? "the operator's (a configured source or trigger, or an admin's trigger, uses it)" : "another tenant's (its triggers use it)";
    return `"${db}" is ${whose}; a tenant's MongoDB sink writes only databases no one else uses (names count on every server): choose another database name`;
  }
}
