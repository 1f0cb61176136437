import { z } from 'zod';
import type { Principal } from '../auth.js';
import { auditCollectionOf } from '../tenant-sinks.js';

/** The audit sink's default collection (sinks/audit.ts `collection`), where an admin's page opens. */
export const DEFAULT_AUDIT_COLLECTION = 'audit';

const collectionName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,120}$/, { error: 'an audit collection name (letters, digits, ".", "_" or "-")' })
  .refine((c) => !c.endsWith('_heads'), { error: "an audit collection, not its `_heads` (each stream's last sequence number)" });

export const auditQuerySchema = z.strictObject({ collection: collectionName.optional() });
export const auditRecordsQuerySchema = z.strictObject({
  collection: collectionName.optional(),
  stream: z.string().min(1).max(500).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/**
 * The audit collection a caller reads. A tenant's audit sinks always write `audit.<user>` (the policy
 * rewrites their `collection`, tenant-sinks.ts), so that collection is the tenant's and no other; an
 * admin reads any audit collection, `audit` by default.
 */
export function auditCollectionFor(principal: Pick<Principal, 'userId' | 'admin'>, asked: string | undefined): { collection: string } | { refusal: string } {
  const own = auditCollectionOf(principal.userId);
  if (principal.admin) return { collection: asked ?? DEFAULT_AUDIT_COLLECTION };
  if (asked === undefined || asked === own) return { collection: own };
  return { refusal: `query.collection: "${asked}" is not your audit log; your audit sinks write "${own}"` };
}

/** Audit collections among the metadata store's collections: those with their `_heads` beside them, and the default. */
export function auditCollectionsIn(names: readonly string[]): string[] {
  const all = new Set(names);
  return [...new Set([DEFAULT_AUDIT_COLLECTION, ...names.filter((n) => all.has(`${n}_heads`))])].sort();
}
