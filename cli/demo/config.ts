import { z } from 'zod';
import type { ConfigInput } from '../../app/config.js';

/** A demo database name: also used in trigger and source names, so letters, digits, "_" and "-" only. */
export const demoDbSchema = z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, { error: '--demo-db: 1–40 letters, digits, "_" or "-", e.g. --demo-db demo2' });

export const DEFAULT_DEMO_DB = 'demo';

/** Every name of the demo pipeline, derived from the demo database. */
export interface DemoNames {
  db: string;
  coll: string;
  copyDb: string;
  /** The copy sink's bookkeeping (stale-write guard versions) on the target. */
  syncStateDb: string;
  source: string;
  topic: string;
  copyTrigger: string;
  cacheTrigger: string;
  auditTrigger: string;
  /** Prepended to the `users:<_id>` cache keys (empty for the default demo database). */
  redisKeyPrefix: string;
  auditCollection: string;
}

export function demoNames(db: string, topicPrefix = 'changeflow'): DemoNames {
  const custom = db !== DEFAULT_DEMO_DB;
  return {
    db,
    coll: 'users',
    copyDb: `${db}_copy`,
    syncStateDb: `${db}_sync`,
    source: db,
    topic: `${topicPrefix}.${db}.users`,
    copyTrigger: `${db}-copy`,
    cacheTrigger: `${db}-cache`,
    auditTrigger: `${db}-audit`,
    redisKeyPrefix: custom ? `${db}:` : '',
    auditCollection: 'audit',
  };
}

export interface DemoConfigOptions {
  names: DemoNames;
  kafka: string;
  mongodb: string;
  /** null: Redis is not reachable, so the cache trigger is left out. */
  redis: string | null;
  metadataDb: string;
  httpPort: number;
  grpcPort: number;
  /** An admin bearer token for the control plane, so the CLI works against the demo at once. */
  token: string;
}

/**
 * The demo as a changeflow.yaml would say it: a source on `<db>.users` (initial snapshot), a
 * pass-through sync to `<db>_copy.users`, a Redis cache of `users:<_id>` and an audit log of deletes.
 */
export function demoConfig(options: DemoConfigOptions): ConfigInput {
  const { names } = options;
  const source = { db: names.db, coll: names.coll };
  return {
    kafka: { brokers: [options.kafka] },
    mongodb: { uri: options.mongodb, db: options.metadataDb },
    ...(options.redis ? { redis: { url: options.redis } } : {}),
    http: { port: options.httpPort },
    grpc: { port: options.grpcPort },
    auth: { tokens: [{ token: options.token, userId: 'dev', admin: true }] },
    sources: [{ name: names.source, uri: options.mongodb, watch: source, snapshot: 'initial', fullDocument: 'updateLookup', checkpointIntervalMs: 500 }],
    triggers: [
      {
        name: names.copyTrigger,
        source,
        // `document`: write the looked-up post-image, which is also right on mongo-java-server (its update events lack a real updateDescription).
        sinks: [{ name: 'copy', kind: 'mongodb', uri: options.mongodb, db: names.copyDb, updateMode: 'document', stateDb: names.syncStateDb }],
      },
      ...(options.redis
        ? [{ name: names.cacheTrigger, source, sinks: [{ name: 'cache', kind: 'redis', key: 'users:{documentKey._id}', keyPrefix: names.redisKeyPrefix }] }]
        : []),
      {
        name: names.auditTrigger,
        source,
        operationTypes: ['delete'],
        sinks: [{ name: 'audit', kind: 'audit', operations: ['delete'], collection: names.auditCollection }],
      },
    ],
  };
}
