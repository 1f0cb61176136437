import { createHash } from 'node:crypto';
import { z } from 'zod';

const eventKeySchema = z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'eventKey must be URL-safe: letters, digits, "_", "-", "."' });

const endpointSchema = z.strictObject({
  eventKey: eventKeySchema,
  /** Feed this endpoint from a Kafka topic instead of HTTP (one event per record). */
  topic: z.string().min(1, { error: 'topic must be a Kafka topic name' }).optional(),
});

const authSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('bearer'), token: z.string().min(16, { error: 'bearer token must be at least 16 characters' }) }),
    z.strictObject({
      type: z.literal('sharedSecret'),
      secret: z.string().min(16, { error: 'shared secret must be at least 16 characters' }),
      /** Request header that carries the secret. */
      header: z
        .string()
        .regex(/^[A-Za-z0-9-]+$/, { error: 'header must be an HTTP header name' })
        .default('x-eventsync-secret')
        .transform((h) => h.toLowerCase()),
    }),
  ],
  { error: 'auth.type must be "bearer" (with token) or "sharedSecret" (with secret and optional header)' },
);

const targetSchema = z.strictObject({
  topic: z.string().min(1, { error: 'target.topic must name the Kafka topic the EventSync messages go to' }),
  /** Largest Kafka record value this service publishes (the topic's max.message.bytes is 1 MiB by default). */
  maxMessageBytes: z.number().int().min(1024, { error: 'maxMessageBytes must be at least 1024' }).default(1_000_000),
  /** A message larger than maxMessageBytes: split into parts (each says part i of n) or reject it. */
  oversize: z.enum(['split', 'reject']).default('split'),
});

/** EventSync service config, as in docs/eventsync.md "Configuration" (the target is a Kafka topic). */
export const eventSyncConfigSchema = z
  .strictObject({
    serviceName: z.string().min(1, { error: 'serviceName must not be empty' }),
    trigger: z.strictObject({
      type: z.enum(['window', 'none'], { error: 'trigger.type must be "window" or "none"' }),
      observationPeriod: z
        .number({ error: 'observationPeriod must be a number of seconds > 0' })
        .int()
        .positive({ error: 'observationPeriod must be a number of seconds > 0' }),
      keepEventAfterTrigger: z.boolean().default(false),
    }),
    endpoints: z.array(endpointSchema).min(1, { error: 'endpoints needs at least one { eventKey }' }),
    target: targetSchema,
    /** The Pub/Sub target the EventSync requirements named; named here so the error says what replaced it. */
    targetPubSub: z.never({ error: 'targetPubSub is replaced by target: { topic: "<kafka topic>" }' }).optional(),
    /** Path prefix of this service's endpoints; default `/eventsync/<serviceName slug>`. */
    pathPrefix: z
      .string()
      .regex(/^(\/[A-Za-z0-9_.-]+)+$/, { error: 'pathPrefix must look like "/a/b" (letters, digits, "_", "-", "."), without a trailing "/"' })
      .optional(),
    auth: authSchema.optional(),
    /** Consumer group of the Kafka-fed endpoints; default `<kafka.clientId>.eventsync.<slug>`. */
    groupId: z.string().min(1).optional(),
    /** How long a claim on events stays with its instance before another instance may take it over. */
    claimLeaseMs: z.number().int().min(100, { error: 'claimLeaseMs must be at least 100' }).default(30_000),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.endpoints.forEach((e, i) => {
      const first = seen.get(e.eventKey);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints', i, 'eventKey'],
          message: `eventKey "${e.eventKey}" is already used by endpoints[${first}]; eventKeys must be unique`,
        });
      else seen.set(e.eventKey, i);
    });
  });
export type EventSyncConfig = z.output<typeof eventSyncConfigSchema>;
export type EventSyncConfigInput = z.input<typeof eventSyncConfigSchema>;
export type EventSyncAuth = NonNullable<EventSyncConfig['auth']>;

/** "My First Event Sync" → "my-first-event-sync"; names without letters or digits get a hash. */
export function serviceSlug(serviceName: string): string {
  const slug = serviceName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return slug || `svc-${createHash('md5').update(serviceName).digest('hex').slice(0, 12)}`;
}

export function servicePathPrefix(config: EventSyncConfig): string {
  return config.pathPrefix ?? `/eventsync/${serviceSlug(config.serviceName)}`;
}

/** Collections in the metadata db: the events of one service and its in-flight claims. */
export function serviceCollections(config: EventSyncConfig): { events: string; claims: string } {
  const slug = serviceSlug(config.serviceName);
  return { events: `eventsync_${slug}`, claims: `eventsync_${slug}__claims` };
}

/** The config as `GET <prefix>/config` shows it: secrets redacted. */
export function publicConfig(config: EventSyncConfig): Record<string, unknown> {
  const { auth, ...rest } = config;
  return {
    ...rest,
    pathPrefix: servicePathPrefix(config),
    ...(auth ? { auth: auth.type === 'bearer' ? { type: 'bearer', token: '***' } : { type: 'sharedSecret', header: auth.header, secret: '***' } } : {}),
  };
}

/** What one schema cannot check: services in one process need distinct path prefixes and collections. */
export function crossCheckServices(configs: readonly EventSyncConfig[]): string[] {
  const problems: string[] = [];
  const prefixes = new Map<string, number>();
  const slugs = new Map<string, number>();
  configs.forEach((cfg, i) => {
    const prefix = servicePathPrefix(cfg);
    const byPrefix = prefixes.get(prefix);
    if (byPrefix !== undefined)
      problems.push(`eventsync[${i}].pathPrefix: "${prefix}" is already used by eventsync[${byPrefix}]; give each service its own serviceName or pathPrefix`);
    else prefixes.set(prefix, i);
    const slug = serviceSlug(cfg.serviceName);
    const bySlug = slugs.get(slug);
    if (bySlug !== undefined)
      problems.push(
        `eventsync[${i}].serviceName: "${cfg.serviceName}" stores its events in the same collection as eventsync[${bySlug}]; service names must differ in letters or digits`,
      );
    else slugs.set(slug, i);
  });
  return problems;
}
