import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { KafkaTransport } from '../../core/kafka/index.js';
import type { TopicNames } from '../../core/topics.js';
import { permissionDenied } from '../api-error.js';
import type { Principal } from '../auth.js';
import type { TriggerService } from '../trigger-service.js';
import { parseAt, type ConsoleRoute } from './browse-shared.js';
import { filterRecords, recordFilterSchema, recordView, topicRefusal, topicsOfTrigger } from './topic-access.js';
import { readTopic } from './topic-reader.js';

export interface TopicRouteDeps {
  kafka: KafkaTransport;
  topics: TopicNames;
  /** The caller's triggers as the tenant rules run them (TriggerService.runnable). */
  runnable: TriggerService['runnable'];
}

/** Records per partition the filters look through: a tail, not the whole topic. */
export const SCAN_PER_PARTITION = 1_000;

const topicParams = z.object({ topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, { error: 'a Kafka topic name: letters, digits, ".", "_" and "-"' }) });

/** GET /api/topics (what the caller may browse) and /api/topics/:topic/records (its tail, filtered). */
export function registerTopicRoutes(http: FastifyInstance, route: ConsoleRoute, deps: TopicRouteDeps): void {
  const { kafka, topics } = deps;
  const allowedOf = async (principal: Principal): Promise<string[]> => {
    if (principal.admin) return [];
    const allowed: string[] = [];
    for await (const { trigger, plan } of deps.runnable(principal)) allowed.push(...topicsOfTrigger(trigger, plan, topics));
    return allowed;
  };

  http.get(
    '/api/topics',
    route(async (principal) => {
      const allowed = await allowedOf(principal);
      const admin = kafka.admin();
      await admin.connect();
      try {
        const all = await admin.listTopics();
        return { topics: all.filter((t) => topicRefusal(principal, t, allowed, topics.prefix) === undefined).sort() };
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }),
  );

  http.get(
    '/api/topics/:topic/records',
    route(async (principal, request) => {
      const { topic } = parseAt(topicParams, request.params, 'params');
      const filter = parseAt(recordFilterSchema, request.query, 'query');
      const refusal = topicRefusal(principal, topic, await allowedOf(principal), topics.prefix);
      if (refusal) throw permissionDenied(`params.topic: ${refusal}`);
      const records = (await readTopic(kafka, topic, { tail: SCAN_PER_PARTITION })).map(recordView);
      return { topic, scanned: records.length, records: filterRecords(records, filter) };
    }),
  );
}
