import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from 'mongodb';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Health } from '../../core/health.js';
import type { KafkaTransport } from '../../core/kafka/index.js';
import type { OutgoingRecord } from '../../core/kafka/transport.js';
import type { Logger } from '../../core/logger.js';
import type { TopicNames } from '../../core/topics.js';
import { replayDeadLetters, replayedRecord } from '../../processors/dlq-replay.js';
import { failedPrecondition, fromZodError, invalidArgument, notFound, permissionDenied } from '../api-error.js';
import type { Principal, TokenAuthenticator } from '../auth.js';
import type { TriggerMessage } from '../trigger-messages.js';
import type { TenantPolicy } from '../tenant-policy.js';
import type { TriggerService } from '../trigger-service.js';
import type { FunctionService } from '../function-service.js';
import { configTriggerIsReadOnly, configTriggerOf, isConfigTriggerId, type ConfigTriggerInfo } from './config-triggers.js';
import { deadLetterFilterSchema, isFiltering, matchesDeadLetter } from './dead-letter-filter.js';
import { letterAt, readDeadLetters, readDeadLettersAt, type DeadLetterView } from './dead-letter-reader.js';
import { RedriveLog } from './redrive-log.js';
import { httpErrorOf } from './http-errors.js';
import { pipelineSummary } from './pipeline.js';
import { PipelineTrend, type TrendOptions } from './pipeline-trend.js';
import { registerAuditRoutes } from './audit-routes.js';
import { registerSourceRoutes } from './source-routes.js';
import { registerTopicRoutes } from './topic-routes.js';
import { registerEventSyncRoutes } from './eventsync-routes.js';
import type { EventSyncService } from '../../connectors/eventsync/service.js';
import { registerTriggerRoutes } from './trigger-routes.js';

export interface ConsoleApiOptions {
  triggers: TriggerService;
  functions: FunctionService;
  /** Tenant rules: into which topics a caller may redrive (absent: anyone anywhere, as without tenants). */
  policy?: Pick<TenantPolicy, 'redriveRefusal'>;
  auth: TokenAuthenticator;
  kafka: KafkaTransport;
  topics: TopicNames;
  health: Health;
  metrics: Registry;
  logger: Logger;
  /** The EventSync services running in this process (absent: none). */
  eventSync?: () => readonly EventSyncService[];
  /** The Pipeline page's trend: window and sampling interval (default 10 minutes, 5 s). */
  trend?: TrendOptions;
  /** changeflow.yaml's triggers (the operator's): their dead letters are an admin's to see and redrive. */
  configTriggers?: readonly ConfigTriggerInfo[];
  /** The metadata store, where audit sinks keep their records (absent: no audit pages). */
  metadataDb?: Db;
}

const idParams = z.object({
  id: z
    .string()
    .regex(/^(yaml:)?[A-Za-z0-9_-]{1,64}$/, { error: 'a trigger id (letters, digits, "_" or "-"), or yaml:<name> for a trigger of changeflow.yaml' }),
});
const listQuery = z.object({ user_id: z.string().max(200).optional() });
const letterCoordinates = z.strictObject({
  partition: z.number().int().min(0),
  offset: z.string().regex(/^\d{1,20}$/, { error: 'the dead letter\'s offset as a decimal string, e.g. "12"' }),
});
const redriveOneBody = letterCoordinates;
const MAX_SELECTED = 500;
/** Dead letters one "redrive matching" call sends back; more are left for the next call. */
const MAX_MATCHING = 5_000;
const redriveSelectedBody = z.strictObject({
  letters: z
    .array(letterCoordinates)
    .min(1, { error: 'choose at least one dead letter: [{ "partition": 0, "offset": "12" }]' })
    .max(MAX_SELECTED, { error: `at most ${MAX_SELECTED} dead letters per call; redrive-all takes every one` }),
});

/** What became of one dead letter of a selection. */
type SelectedFate =
  | { partition: number; offset: string; outcome: 'replayed'; topic: string }
  | { partition: number; offset: string; outcome: 'not-found' | 'refused'; reason: string };

function parse<S extends z.ZodType>(schema: S, value: unknown, root: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw fromZodError(result.error, root);
  return result.data;
}

/** The topic a dead letter that names no origin goes back to: the trigger's source topic. */
function fallbackTopic(trigger: Partial<TriggerMessage>, topics: TopicNames): string | undefined {
  const db = trigger.database;
  if (!db) return undefined;
  if (db.topic) return db.topic;
  return db.database && db.collection ? topics.change(db.database, db.collection) : undefined;
}

/**
 * The console's JSON API under /api/: the same bearer tokens and the same TriggerService as
 * gRPC, so what a caller may see and change is decided by the control plane. Tokens are only
 * read from the Authorization header, never from the URL (URLs end up in logs and histories).
 */
export function registerConsoleApi(http: FastifyInstance, options: ConsoleApiOptions): void {
  const { triggers, auth, kafka, topics } = options;
  const redrives = options.metadataDb ? new RedriveLog(options.metadataDb) : undefined;
  // Sampled on a timer, whoever looks: a trend is there when the first console opens the page.
  const trend = new PipelineTrend(options.trend);
  const sampler = setInterval(() => void trend.sample(options.metrics).catch(() => undefined), trend.intervalMs);
  sampler.unref();
  http.addHook('onClose', async () => clearInterval(sampler));
  /** A trigger's dead letters, those the console redrove marked so. */
  const deadLettersOf = async (trigger: Partial<TriggerMessage>, read: { limit?: number; keep?: (letter: DeadLetterView) => boolean } = {}) => {
    const key = keyOf(trigger);
    const redriven = await redrives?.redrivenOf(topics.deadLetter(key));
    return readDeadLetters(kafka, topics, key, { ...read, ...(redriven ? { redriven } : {}) });
  };

  const route =
    (handler: (principal: Principal, request: FastifyRequest) => Promise<unknown>) =>
    async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      reply.header('cache-control', 'no-store');
      try {
        const principal = await auth.authenticateHeader(request.headers.authorization);
        return reply.code(200).send(await handler(principal, request));
      } catch (error) {
        const { statusCode, body } = httpErrorOf(error);
        if (statusCode >= 500) options.logger.error({ err: error, url: request.routeOptions.url }, 'console API call failed');
        return reply.code(statusCode).send(body);
      }
    };

  const listTriggers = async (principal: Principal, userId?: string): Promise<Partial<TriggerMessage>[]> => {
    const found: Partial<TriggerMessage>[] = [];
    for await (const t of triggers.query(principal, { query: { user_id: userId ?? '' } })) found.push(t);
    return found;
  };
  const triggerOf = async (principal: Principal, request: FastifyRequest): Promise<Partial<TriggerMessage>> => {
    const { id } = parse(idParams, request.params, 'params');
    if (isConfigTriggerId(id)) return configTriggerOf(principal, id, options.configTriggers ?? [], options.health);
    return (await triggers.get(principal, { id })).trigger;
  };
  const setEnabled = async (principal: Principal, request: FastifyRequest, enabled: boolean): Promise<unknown> => {
    const { id } = parse(idParams, request.params, 'params');
    if (isConfigTriggerId(id)) configTriggerIsReadOnly(id);
    return triggers.setEnabled(principal, { id }, enabled);
  };
  const keyOf = (trigger: Partial<TriggerMessage>): string => trigger.runtime_key ?? '';

  http.get(
    '/api/whoami',
    route(async (principal) => ({ userId: principal.userId, admin: principal.admin })),
  );

  http.get(
    '/api/triggers',
    route(async (principal, request) => {
      const { user_id: userId } = parse(listQuery, request.query, 'query');
      // The query itself would answer an empty list; the console says plainly that this is not the caller's to see.
      if (userId && userId !== principal.userId && !principal.admin)
        throw permissionDenied(`user_id: you may only list your own triggers ("${principal.userId}")`);
      return { triggers: await listTriggers(principal, userId) };
    }),
  );

  http.post(
    '/api/triggers/:id/enable',
    route(async (principal, request) => setEnabled(principal, request, true)),
  );
  http.post(
    '/api/triggers/:id/disable',
    route(async (principal, request) => setEnabled(principal, request, false)),
  );

  http.get(
    '/api/triggers/:id/dead-letters',
    route(async (principal, request) => {
      const trigger = await triggerOf(principal, request);
      const filter = parse(deadLetterFilterSchema, request.query, 'query');
      const page = await deadLettersOf(
        trigger,
        isFiltering(filter) || filter.includeRedriven === false ? { keep: (l) => matchesDeadLetter(l, filter, true) } : {},
      );
      return { trigger: { id: trigger.id, name: trigger.name }, ...page };
    }),
  );

  /** Each chosen dead letter read back, checked against the tenant rules, and sent to its topic: a fate per letter. */
  const redriveLetters = async (
    principal: Principal,
    trigger: Partial<TriggerMessage>,
    chosen: readonly z.output<typeof letterCoordinates>[],
  ): Promise<SelectedFate[]> => {
    const key = keyOf(trigger);
    const fates: SelectedFate[] = [];
    const records: OutgoingRecord[] = [];
    const found = await readDeadLettersAt(kafka, topics, key, chosen);
    for (const { partition, offset } of chosen) {
      const letter = found.get(letterAt(partition, offset));
      if (!letter) {
        fates.push({
          partition,
          offset,
          outcome: 'not-found',
          reason: `no dead letter at partition ${partition}, offset ${offset} of ${topics.deadLetter(key)}`,
        });
        continue;
      }
      const record = replayedRecord(letter, topics.deadLetter(key), fallbackTopic(trigger, topics));
      const refusal = options.policy?.redriveRefusal(principal, record.topic);
      if (refusal) {
        fates.push({ partition, offset, outcome: 'refused', reason: refusal });
        continue;
      }
      records.push(record);
      fates.push({ partition, offset, outcome: 'replayed', topic: record.topic });
    }
    if (records.length > 0) {
      const producer = kafka.producer();
      await producer.connect();
      try {
        await producer.send(records);
      } finally {
        await producer.disconnect().catch(() => undefined);
      }
      await redrives?.record(
        topics.deadLetter(key),
        fates.filter((f) => f.outcome === 'replayed'),
        principal.userId,
      );
    }
    return fates;
  };
  const byTopic = (fates: readonly SelectedFate[]): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const fate of fates) if (fate.outcome === 'replayed') counts[fate.topic] = (counts[fate.topic] ?? 0) + 1;
    return counts;
  };

  http.post(
    '/api/triggers/:id/dead-letters/redrive',
    route(async (principal, request) => {
      const trigger = await triggerOf(principal, request);
      const [fate] = await redriveLetters(principal, trigger, [parse(redriveOneBody, request.body, 'body')]);
      if (fate?.outcome === 'not-found') throw notFound(fate.reason);
      if (fate?.outcome === 'refused') throw failedPrecondition(fate.reason);
      return { replayed: 1, byTopic: byTopic(fate ? [fate] : []), deadLetterTopic: topics.deadLetter(keyOf(trigger)) };
    }),
  );

  http.post(
    '/api/triggers/:id/dead-letters/redrive-selected',
    route(async (principal, request) => {
      const trigger = await triggerOf(principal, request);
      const { letters } = parse(redriveSelectedBody, request.body, 'body');
      const fates = await redriveLetters(principal, trigger, letters);
      const counts = byTopic(fates);
      return {
        replayed: Object.values(counts).reduce((a, b) => a + b, 0),
        byTopic: counts,
        deadLetterTopic: topics.deadLetter(keyOf(trigger)),
        letters: fates,
      };
    }),
  );

  http.post(
    '/api/triggers/:id/dead-letters/redrive-matching',
    route(async (principal, request) => {
      const trigger = await triggerOf(principal, request);
      const filter = parse(z.strictObject({ filter: deadLetterFilterSchema }), request.body, 'body').filter;
      if (!isFiltering(filter)) throw invalidArgument('body.filter: give errorKind or contains (or both); to send back every dead letter use redrive-all');
      const page = await deadLettersOf(trigger, { keep: (l) => matchesDeadLetter(l, filter, false), limit: MAX_MATCHING });
      const fates = page.letters.length > 0 ? await redriveLetters(principal, trigger, page.letters) : [];
      const counts = byTopic(fates);
      return {
        replayed: Object.values(counts).reduce((a, b) => a + b, 0),
        byTopic: counts,
        deadLetterTopic: page.deadLetterTopic,
        matching: page.matching,
        // Over MAX_MATCHING the oldest are left for the next call, the newest sent now.
        remaining: page.matching - page.letters.length,
        letters: fates,
      };
    }),
  );

  http.post(
    '/api/triggers/:id/dead-letters/redrive-all',
    route(async (principal, request) => {
      const trigger = await triggerOf(principal, request);
      const fallback = fallbackTopic(trigger, topics);
      const policy = options.policy;
      return replayDeadLetters({
        kafka,
        topics,
        trigger: keyOf(trigger),
        ...(fallback ? { fallbackTopic: fallback } : {}),
        ...(policy ? { refuseTopic: (topic: string) => policy.redriveRefusal(principal, topic) } : {}),
      });
    }),
  );

  http.get(
    '/api/pipeline',
    route(async (principal) => {
      await trend.sample(options.metrics);
      return pipelineSummary(principal, await listTriggers(principal), { ...options, trend });
    }),
  );

  registerSourceRoutes(http, route, options);
  registerTopicRoutes(http, route, { kafka, topics, runnable: (principal) => triggers.runnable(principal) });
  registerTriggerRoutes(http, route, options);
  registerEventSyncRoutes(http, route, options.eventSync ?? (() => []));
  if (options.metadataDb) registerAuditRoutes(http, route, options.metadataDb);
}
