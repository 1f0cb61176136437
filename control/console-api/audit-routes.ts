import type { FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import { EJSON, type Document } from '../../schemas/bson.js';
import { verifyAuditLog } from '../../sinks/audit-chain.js';
import { notFound, permissionDenied } from '../api-error.js';
import type { Principal } from '../auth.js';
import { auditCollectionFor, auditCollectionsIn, auditQuerySchema, auditRecordsQuerySchema } from './audit-access.js';
import { parseAt, type ConsoleRoute } from './browse-shared.js';

/** GET /api/audit (the chain's verification, as `changeflow audit verify`) and /api/audit/records (the newest records). */
export function registerAuditRoutes(http: FastifyInstance, route: ConsoleRoute, db: Db): void {
  const collectionOf = async (principal: Principal, asked: string | undefined): Promise<{ collection: string; collections: string[] }> => {
    const chosen = auditCollectionFor(principal, asked);
    if ('refusal' in chosen) throw permissionDenied(chosen.refusal);
    if (!principal.admin) return { collection: chosen.collection, collections: [chosen.collection] };
    const collections = auditCollectionsIn((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
    // An admin may read any audit log, but not the metadata store's other collections (tokens, triggers…) through this page.
    if (!collections.includes(chosen.collection)) throw notFound(`query.collection: "${chosen.collection}" is not an audit collection`);
    return { collection: chosen.collection, collections };
  };

  http.get(
    '/api/audit',
    route(async (principal, request) => {
      const { collection: asked } = parseAt(auditQuerySchema, request.query, 'query');
      const { collection, collections } = await collectionOf(principal, asked);
      return { collection, collections, verify: await verifyAuditLog(db, collection) };
    }),
  );

  http.get(
    '/api/audit/records',
    route(async (principal, request) => {
      const { collection: asked, stream, limit } = parseAt(auditRecordsQuerySchema, request.query, 'query');
      const { collection } = await collectionOf(principal, asked);
      const found = await db
        .collection<Document>(collection)
        .find(stream === undefined ? {} : { stream })
        .sort({ recordedAt: -1, seq: -1 })
        .limit(limit)
        .toArray();
      return { collection, records: found.map((r) => EJSON.serialize(r, { relaxed: true }) as Document) };
    }),
  );
}
