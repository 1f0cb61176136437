import { z } from 'zod';

const uriPrefix = z.string().min(1, { error: 'a URI prefix, e.g. "mongodb://tenant-db.example.net:27017" or "https://hooks.example.net/"' });
const topicPattern = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,249}\*?$/, { error: 'a Kafka topic name, or a prefix ending in "*" (e.g. "team-a.*"): letters, digits, ".", "_", "-"' });

/**
 * What an admin lets a tenant (a non-admin user) use beyond its own objects. Every list is an
 * allow-list; unset = the built-in rule (docs/security.md).
 */
export const tenantRulesShape = {
  /** URI prefixes a trigger's own `data_source` may start with (unset: any MongoDB URI). */
  dataSources: z.array(uriPrefix).optional(),
  /** Kafka topics (or `prefix*`) a trigger's `topic:` may read besides its sources' topics. */
  topics: z.array(topicPattern).optional(),
  /** URI prefixes MongoDB, Redis and HTTP sinks may target (unset: any, except the metadata store). */
  sinkUris: z.array(uriPrefix).optional(),
  /** Topics (or `prefix*`) under `<kafka.topicPrefix>.` that Kafka sinks may write. */
  sinkTopics: z.array(topicPattern).optional(),
  /** Largest `timeout_ms` a function of this tenant may ask for. */
  maxTimeoutMs: z.number().int().positive().optional(),
  /** Largest `memory_mib` a function of this tenant may ask for. */
  maxMemoryMiB: z.number().int().positive().optional(),
};

export const tenantRulesSchema = z.strictObject(tenantRulesShape);
export type TenantRules = z.output<typeof tenantRulesSchema>;

export const tenantSchema = z.strictObject({ userId: z.string().min(1, { error: "the tenant's userId (as in auth.tokens)" }), ...tenantRulesShape });
export type TenantConfig = z.output<typeof tenantSchema>;

export const adminLimitsSchema = z
  .strictObject({ maxTimeoutMs: z.number().int().positive().default(60_000), maxMemoryMiB: z.number().int().positive().default(1024) })
  .default({ maxTimeoutMs: 60_000, maxMemoryMiB: 1024 });

const tokenSchema = z.strictObject({
  token: z.string().min(16, { error: 'tokens must be at least 16 characters' }),
  userId: z.string().min(1),
  admin: z.boolean().default(false),
});

export const authConfigSchema = z
  .strictObject({
    tokens: z.array(tokenSchema).default([]),
    /** Per-tenant grants and limits, by userId. */
    tenants: z.array(tenantSchema).default([]),
    /** Rules of every tenant not listed in `tenants` (and the fields a listed tenant leaves unset). */
    tenantDefaults: tenantRulesSchema.default({}),
    adminLimits: adminLimitsSchema,
  })
  .check((ctx) => {
    const seen = new Map<string, number>();
    ctx.value.tenants.forEach((t, i) => {
      const first = seen.get(t.userId);
      if (first !== undefined)
        ctx.issues.push({
          code: 'custom',
          input: t.userId,
          path: ['tenants', i, 'userId'],
          message: `"${t.userId}" is already listed in auth.tenants[${first}]; give each tenant one entry`,
        });
      else seen.set(t.userId, i);
    });
  });

export const DEFAULT_AUTH = { tokens: [], tenants: [], tenantDefaults: {}, adminLimits: { maxTimeoutMs: 60_000, maxMemoryMiB: 1024 } };

/** Who may read a config source through the control plane, besides admins. */
export const readersSchema = z.array(z.string().min(1, { error: 'a userId' })).default([]);
