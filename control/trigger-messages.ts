import { z } from 'zod';
import { nameSchema } from '../core/names.js';
import type { SinkKind } from '../sinks/sink.js';
import { matchProblem } from '../processors/match-filter.js';
import { cronProblem } from './cron.js';
import { OPERATION_NAMES, TRIGGER_TYPE, type DatabaseConfigDoc, type SinkDoc, type TriggerDoc } from './documents.js';
import { redactOptions, redactUri } from './redact.js';
import { triggerKey } from './trigger-key.js';

/** The wire shape of trigger.Trigger as grpc-js hands it over / sends it (keepCase, enums as numbers). */
export interface TriggerMessage {
  id: string;
  user_id: string;
  name: string;
  trigger_type: number;
  database?: DatabaseConfigMessage | null;
  authentication?: Record<string, never> | null;
  scheduled?: { schedule: string } | null;
  function_id: string;
  enabled: boolean;
  sinks: SinkMessage[];
  batch?: { max_size: number; max_wait_ms: number } | null;
  runtime_key: string;
}
export interface DatabaseConfigMessage {
  data_source: string;
  database: string;
  collection: string;
  operation_types: number[];
  unordered: boolean;
  match: string;
  topic: string;
}
export interface SinkMessage {
  name: string;
  kind: string;
  options_json: string;
}

const jsonObjectText = (what: string) =>
  z.string().transform((text, ctx): Record<string, unknown> | undefined => {
    if (text.trim() === '') return undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: `expected a JSON object (${what}), e.g. {"fullDocument.status": "paid"}` });
    return z.NEVER;
  });

const databaseName = z
  .string()
  .max(64, { error: 'database names are at most 64 characters' })
  .refine((s) => !/[\0$/\\ ".]/.test(s), { error: 'a database name must not contain / \\ . " $, spaces or NUL' });
const collectionName = z
  .string()
  .max(255, { error: 'collection names are at most 255 characters' })
  .refine((s) => !/[\0$]/.test(s), { error: 'a collection name must not contain $ or NUL' });

export const databaseConfigSchema = z.looseObject({
  data_source: z
    .string()
    .default('')
    .refine((s) => s === '' || /^mongodb(\+srv)?:\/\//.test(s), { error: 'expected a MongoDB URI (mongodb:// or mongodb+srv://) or empty' }),
  database: databaseName.default(''),
  collection: collectionName.default(''),
  operation_types: z
    .array(z.number().int())
    .default([])
    .refine((ops) => ops.every((op) => OPERATION_NAMES[op] !== undefined), {
      error: 'each operation type must be INSERT (1), UPDATE (2), REPLACE (3) or DELETE (4)',
    }),
  unordered: z.boolean().default(false),
  match: z.string().default(''),
  topic: z
    .string()
    .default('')
    .refine((t) => t === '' || /^[A-Za-z0-9._-]{1,249}$/.test(t), { error: 'a Kafka topic name: letters, digits, ".", "_" and "-", at most 249' }),
});

const sinkSchema = z.looseObject({
  name: nameSchema,
  kind: z.string().regex(/^[a-z][a-z0-9_-]*$/, { error: 'expected a sink kind such as "mongodb", "redis", "audit", "kafka", "http"' }),
  options_json: jsonObjectText("the sink kind's options").prefault(''),
});

const batchSchema = z
  .looseObject({
    max_size: z.number().int().min(0).max(100_000, { error: 'at most 100000 events per batch' }).default(0),
    max_wait_ms: z.number().int().min(0).max(60_000, { error: 'at most 60000 ms' }).default(0),
  })
  .nullish();

const triggerTypeSchema = z
  .number()
  .int()
  .refine((t) => t === TRIGGER_TYPE.DATABASE || t === TRIGGER_TYPE.AUTHENTICATION || t === TRIGGER_TYPE.SCHEDULED, {
    error: 'expected TRIGGER_TYPE_DATABASE (1), TRIGGER_TYPE_AUTHENTICATION (2) or TRIGGER_TYPE_SCHEDULED (3)',
  });

export const triggerInputSchema = z.looseObject({
  user_id: z.string().default(''),
  name: nameSchema,
  trigger_type: triggerTypeSchema,
  database: databaseConfigSchema.nullish(),
  authentication: z.looseObject({}).nullish(),
  scheduled: z.looseObject({ schedule: z.string().default('') }).nullish(),
  function_id: z.string().default(''),
  enabled: z.boolean().default(false),
  sinks: z.array(sinkSchema).default([]),
  batch: batchSchema,
});
export type TriggerInput = z.output<typeof triggerInputSchema>;

/** What a trigger's type demands of its config and sinks; problems named by field (`trigger.database.database`). */
export function checkTriggerShape(
  input: {
    trigger_type: number;
    database?: z.output<typeof databaseConfigSchema> | null;
    scheduled?: { schedule: string } | null;
    sinks: readonly { name: string; kind: string; options_json: Record<string, unknown> | undefined }[];
  },
  root: string,
  sinkKinds: readonly SinkKind[],
): string[] {
  const problems: string[] = [];
  if (input.trigger_type === TRIGGER_TYPE.DATABASE) {
    if (!input.database) problems.push(`${root}.database: required for TRIGGER_TYPE_DATABASE (data_source, database, collection, operation_types)`);
    else if (input.database.database === '' && input.database.topic === '')
      problems.push(`${root}.database.database: required (the watched database), unless database.topic names a Kafka topic`);
    if (input.database?.match) {
      const parsed = jsonObjectText('a filter').safeParse(input.database.match);
      if (!parsed.success) problems.push(`${root}.database.match: expected a JSON object, e.g. {"fullDocument.status": "paid"}`);
      else {
        // Checked exactly as the processor will compile it, so a trigger that could never start is refused here.
        const problem = matchProblem(parsed.data, `${root}.database.match`);
        if (problem) problems.push(problem);
      }
    }
  }
  if (input.trigger_type === TRIGGER_TYPE.SCHEDULED) {
    const schedule = input.scheduled?.schedule ?? '';
    if (schedule === '') problems.push(`${root}.scheduled.schedule: required for TRIGGER_TYPE_SCHEDULED, a cron expression such as "*/5 * * * *"`);
    else {
      const problem = cronProblem(schedule);
      if (problem) problems.push(`${root}.scheduled.schedule: ${problem}`);
    }
  }
  if (input.trigger_type !== TRIGGER_TYPE.AUTHENTICATION && input.sinks.length === 0) {
    problems.push(`${root}.sinks: a trigger needs at least one sink, e.g. {name: "cache", kind: "redis"}`);
  }
  const seen = new Set<string>();
  input.sinks.forEach((sink, i) => {
    if (seen.has(sink.name)) problems.push(`${root}.sinks[${i}].name: "${sink.name}" is used twice in this trigger`);
    seen.add(sink.name);
    if (sinkKinds.length === 0) return;
    const kind = sinkKinds.find((k) => k.kind === sink.kind);
    if (!kind) {
      problems.push(`${root}.sinks[${i}].kind: unknown sink kind "${sink.kind}" (known: ${sinkKinds.map((k) => k.kind).join(', ')})`);
      return;
    }
    const parsed = kind.configSchema.safeParse({ name: sink.name, kind: sink.kind, ...(sink.options_json ?? {}) });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${root}.sinks[${i}].options_json.${issue.path.map(String).join('.')}: ${issue.message}`);
    }
  });
  return problems;
}

export function databaseDoc(config: z.output<typeof databaseConfigSchema>): DatabaseConfigDoc {
  return {
    data_source: config.data_source,
    database: config.database,
    collection: config.collection,
    operation_types: [...new Set(config.operation_types)].sort(),
    ...(config.unordered ? { unordered: true } : {}),
    ...(config.match.trim() !== '' ? { match: config.match } : {}),
    ...(config.topic !== '' ? { topic: config.topic } : {}),
  };
}

export function sinkDocs(sinks: readonly { name: string; kind: string; options_json: Record<string, unknown> | undefined }[]): SinkDoc[] {
  return sinks.map((s) => ({ name: s.name, kind: s.kind, options: s.options_json ?? {} }));
}

export function batchDoc(batch: { max_size: number; max_wait_ms: number } | null | undefined): TriggerDoc['batch'] {
  if (!batch || (batch.max_size === 0 && batch.max_wait_ms === 0)) return undefined;
  return { max_size: batch.max_size, max_wait_ms: batch.max_wait_ms };
}

/** A stored trigger as the API returns it: passwords in URIs and secret sink options redacted. */
export function toTriggerMessage(doc: TriggerDoc, secretKeysOf: (kind: string) => ReadonlySet<string> = () => new Set()): Partial<TriggerMessage> {
  const db = doc.config.database;
  const message: Partial<TriggerMessage> = {
    id: doc._id,
    user_id: doc.user_id,
    name: doc.name,
    trigger_type: doc.trigger_type,
    function_id: doc.function_id,
    enabled: doc.enabled,
    sinks: doc.sinks.map((s) => ({ name: s.name, kind: s.kind, options_json: JSON.stringify(redactOptions(s.options, secretKeysOf(s.kind))) })),
    runtime_key: triggerKey(doc),
  };
  if (db) {
    message.database = {
      data_source: redactUri(db.data_source),
      database: db.database,
      collection: db.collection,
      operation_types: db.operation_types,
      unordered: db.unordered ?? false,
      match: db.match ?? '',
      topic: db.topic ?? '',
    };
  } else if (doc.config.scheduled) message.scheduled = { schedule: doc.config.scheduled.schedule };
  else if (doc.config.authentication) message.authentication = {};
  if (doc.batch) message.batch = { max_size: doc.batch.max_size, max_wait_ms: doc.batch.max_wait_ms };
  return message;
}
