import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Health } from '../../core/health.js';
import type { KafkaTransport } from '../../core/kafka/index.js';
import type { TopicNames } from '../../core/topics.js';
import { topicMatches } from '../../sinks/topic-guard.js';
import { failedPrecondition, permissionDenied } from '../api-error.js';
import type { Principal } from '../auth.js';
import type { FunctionService } from '../function-service.js';
import type { TriggerMessage } from '../trigger-messages.js';
import type { TriggerService } from '../trigger-service.js';
import { parseAt, type ConsoleRoute } from './browse-shared.js';
import { byTrigger, stateOf, type StateView } from './pipeline.js';
import { sourceTopicOf } from './topic-access.js';
import { readTopic } from './topic-reader.js';

export interface TriggerRouteDeps {
  triggers: TriggerService;
  functions: FunctionService;
  kafka: KafkaTransport;
  topics: TopicNames;
  health: Health;
  metrics: Registry;
}

export interface TriggerDetail {
  trigger: {
    id: string;
    name: string;
    userId: string;
    enabled: boolean;
    runtimeKey: string;
    /** The topics it reads, as the tenant rules run it (none when the rules refuse it). */
    reads: string[];
    sinks: { name: string; kind: string }[];
    batch: { maxSize: number; maxWaitMs: number } | null;
  };
  /** The trigger's function; null when it has none (events pass to every sink) or it is gone. */
  function: { id: string; name: string; language: 'javascript' | 'wasm'; javascript: string | null; wasmBytes: number | null } | null;
  /** Why the function could not be read, when the trigger names one. */
  functionProblem: string | null;
  state: StateView;
  /** Since this process started (the processor metrics). */
  counts: { batches: number; delivered: number; filtered: number; deadLettered: number; errors: Record<string, number> };
  /** What the dead-letter topic holds now, redriven letters included. */
  deadLetters: { topic: string; stored: number };
}

const idParams = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'a trigger id (letters, digits, "_" or "-")' }) });
/** The editor's limit; the function service checks the code itself (it must compile and export a handler). */
const MAX_SOURCE_CHARS = 1_000_000;
const functionBody = z.strictObject({
  javascript: z
    .string()
    .min(1, { error: 'the function source; empty is not a function' })
    .max(MAX_SOURCE_CHARS, { error: `at most ${MAX_SOURCE_CHARS} characters` }),
});
export const MAX_RECENT = 50;
const executeBody = z
  .strictObject({
    /** Unsaved code from the editor; absent: the stored function. */
    javascript: z
      .string()
      .min(1)
      .max(MAX_SOURCE_CHARS, { error: `at most ${MAX_SOURCE_CHARS} characters` })
      .optional(),
    events: z.array(z.unknown()).max(1_000, { error: 'at most 1000 events per test run' }).optional(),
    recent: z
      .number()
      .int()
      .min(1)
      .max(MAX_RECENT, { error: `at most ${MAX_RECENT} recent events` })
      .optional(),
  })
  .refine((b) => (b.events === undefined) !== (b.recent === undefined), {
    error: "give either events (sample events) or recent (how many of the newest events of the trigger's topic), not both and not neither",
  });

const countOf = (values: Map<string, number>, key: string): number => values.get(key) ?? 0;

/** Errors per kind of one trigger (`changeflow_processor_errors_total{trigger, kind}`). */
async function errorsOf(metrics: Registry, key: string): Promise<Record<string, number>> {
  const metric = metrics.getSingleMetric('changeflow_processor_errors_total');
  const errors: Record<string, number> = {};
  if (!metric) return errors;
  for (const sample of (await metric.get()).values) {
    const kind = sample.labels['kind'];
    if (sample.labels['trigger'] === key && typeof kind === 'string') errors[kind] = (errors[kind] ?? 0) + sample.value;
  }
  return errors;
}

async function storedLetters(kafka: KafkaTransport, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return 0;
    return (await admin.topicOffsets(topic)).reduce((sum, p) => sum + Math.max(0, Number(p.high) - Number(p.low)), 0);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The newest `n` change events of the topics (or `prefix.db.*` patterns) a trigger reads, oldest first. */
async function recentEvents(kafka: KafkaTransport, reads: readonly string[], n: number): Promise<unknown[]> {
  const admin = kafka.admin();
  await admin.connect();
  let names: string[];
  try {
    const existing = await admin.listTopics();
    names = existing.filter((t) => topicMatches(t, reads) && !t.includes('.__')).slice(0, 20);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const records = (await Promise.all(names.map((t) => readTopic(kafka, t, { tail: n })))).flat();
  records.sort((a, b) => a.timestamp - b.timestamp);
  return records.slice(-n).flatMap((r) => {
    if (r.value === null) return [];
    try {
      return [JSON.parse(r.value.toString('utf8')) as unknown];
    } catch {
      return []; // Avro or other non-JSON values are not sample events for a function.
    }
  });
}

/**
 * The Trigger page's API: one trigger's definition, function, state and counts; editing its function;
 * and test runs (`execute`) of the stored or edited function on sample or recent events. Every call
 * goes through the TriggerService and FunctionService as the caller, so the tenant rules are gRPC's.
 */
export function registerTriggerRoutes(http: FastifyInstance, route: ConsoleRoute, deps: TriggerRouteDeps): void {
  const { triggers, functions, kafka, topics } = deps;
  const triggerOf = async (principal: Principal, params: unknown): Promise<Partial<TriggerMessage>> =>
    (await triggers.get(principal, { id: parseAt(idParams, params, 'params').id })).trigger;
  /** What the trigger reads as the tenant rules run it; [] when they refuse it. */
  const readsOf = async (principal: Principal, id: string): Promise<string[]> => {
    for await (const { trigger, plan } of triggers.runnable(principal)) {
      if (trigger._id !== id) continue;
      const source = sourceTopicOf(trigger, plan, topics);
      return source === undefined ? [] : [source];
    }
    return [];
  };
  const functionIdOf = (trigger: Partial<TriggerMessage>): string => {
    if (!trigger.function_id) throw failedPrecondition(`trigger "${trigger.name ?? ''}" has no function: its events go to every sink as they are`);
    return trigger.function_id;
  };

  http.get(
    '/api/triggers/:id/detail',
    route(async (principal, request): Promise<TriggerDetail> => {
      const trigger = await triggerOf(principal, request.params);
      const key = trigger.runtime_key ?? '';
      let fn: TriggerDetail['function'] = null;
      let functionProblem: string | null = null;
      if (trigger.function_id) {
        try {
          const found = (await functions.get(principal, { id: trigger.function_id })).function;
          fn = {
            id: found.id ?? '',
            name: found.name ?? '',
            language: found.wasm ? 'wasm' : 'javascript',
            javascript: found.javascript ?? null,
            wasmBytes: found.wasm ? found.wasm.length : null,
          };
        } catch (error) {
          functionProblem = error instanceof Error ? error.message : String(error);
        }
      }
      const [batches, delivered, filtered, deadLettered, errors, stored] = await Promise.all([
        byTrigger(deps.metrics, 'changeflow_processor_batch_seconds'),
        byTrigger(deps.metrics, 'changeflow_processor_events_total', 'delivered'),
        byTrigger(deps.metrics, 'changeflow_processor_events_total', 'filtered'),
        byTrigger(deps.metrics, 'changeflow_processor_dead_letters_total'),
        errorsOf(deps.metrics, key),
        storedLetters(kafka, topics.deadLetter(key)),
      ]);
      return {
        trigger: {
          id: trigger.id ?? '',
          name: trigger.name ?? '',
          userId: trigger.user_id ?? '',
          enabled: trigger.enabled ?? false,
          runtimeKey: key,
          reads: await readsOf(principal, trigger.id ?? ''),
          sinks: (trigger.sinks ?? []).map((s) => ({ name: s.name, kind: s.kind })),
          batch: trigger.batch?.max_size ? { maxSize: trigger.batch.max_size, maxWaitMs: trigger.batch.max_wait_ms } : null,
        },
        function: fn,
        functionProblem,
        state: stateOf(deps.health.report().components[`processor:${key}`]),
        counts: {
          batches: countOf(batches, key),
          delivered: countOf(delivered, key),
          filtered: countOf(filtered, key),
          deadLettered: countOf(deadLettered, key),
          errors,
        },
        deadLetters: { topic: topics.deadLetter(key), stored },
      };
    }),
  );

  http.post(
    '/api/triggers/:id/function',
    route(async (principal, request) => {
      const trigger = await triggerOf(principal, request.params);
      const { javascript } = parseAt(functionBody, request.body, 'body');
      const updated = (await functions.update(principal, { id: functionIdOf(trigger), javascript })).function;
      return { function: { id: updated.id ?? '', name: updated.name ?? '', javascript: updated.javascript ?? null } };
    }),
  );

  http.post(
    '/api/triggers/:id/execute',
    route(async (principal, request) => {
      const trigger = await triggerOf(principal, request.params);
      const body = parseAt(executeBody, request.body, 'body');
      let events = body.events ?? [];
      if (body.recent !== undefined) {
        const reads = await readsOf(principal, trigger.id ?? '');
        if (reads.length === 0) throw permissionDenied(`body.recent: trigger "${trigger.name ?? ''}" reads no topic you may read; give sample events instead`);
        events = await recentEvents(kafka, reads, body.recent);
      }
      const reply = await functions.execute(principal, {
        ...(body.javascript !== undefined ? { javascript: body.javascript } : { id: functionIdOf(trigger) }),
        events_json: JSON.stringify(events),
        sink_names: (trigger.sinks ?? []).map((s) => s.name),
      });
      return {
        events,
        actions: reply.actions_json === '' ? null : (JSON.parse(reply.actions_json) as unknown),
        logs: reply.logs,
        error: reply.error === '' ? null : { kind: reply.error_kind, message: reply.error, line: reply.line || null, column: reply.column || null },
      };
    }),
  );
}
