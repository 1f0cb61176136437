import { optionDocs } from '../core/component-spec.js';
import { status } from '@grpc/grpc-js';
import { z } from 'zod';
import type { Filter } from 'mongodb';
import type { SinkKind } from '../sinks/sink.js';
import { ApiError, fromZodError, invalidArgument, permissionDenied } from './api-error.js';
import type { Principal } from './auth.js';
import { TRIGGER_TYPE, type TriggerDoc } from './documents.js';
import { redactUri } from './redact.js';
import type { Owner, RunPlan, TenantPolicy, TriggerShape } from './tenant-policy.js';
import { newId, type MetadataStore } from './store.js';
import {
  batchDoc,
  checkTriggerShape,
  databaseConfigSchema,
  databaseDoc,
  sinkDocs,
  toTriggerMessage,
  triggerInputSchema,
  type TriggerMessage,
} from './trigger-messages.js';
import { keepDataSource, keepSinkSecrets } from './unredact.js';

type TriggerReply = { trigger: Partial<TriggerMessage> };

const idRequest = z.looseObject({ id: z.string().default('') });

const sinkListSchema = z.looseObject({ sinks: triggerInputSchema.shape.sinks });

const updateSchema = z.looseObject({
  id: z.string().default(''),
  function_id: z.string().default(''),
  sinks: sinkListSchema.nullish(),
  database: databaseConfigSchema.nullish(),
  scheduled: z.looseObject({ schedule: z.string().default('') }).nullish(),
  batch: triggerInputSchema.shape.batch,
  clear_function: z.boolean().default(false),
});

const querySchema = z.looseObject({
  query: z
    .looseObject({
      user_id: z.string().default(''),
      function_id: z.string().default(''),
      trigger_type: z.string().default(''),
      data_source: z.string().default(''),
      database: z.string().default(''),
      collection: z.string().default(''),
    })
    .nullish(),
});

/** The sink of a trigger created without sinks. */
export const DEFAULT_SINK = { name: 'audit', kind: 'audit' } as const;

const TYPE_NAMES: Record<string, number> = { DATABASE: TRIGGER_TYPE.DATABASE, AUTHENTICATION: TRIGGER_TYPE.AUTHENTICATION, SCHEDULED: TRIGGER_TYPE.SCHEDULED };

/** TriggerQuery.trigger_type is a string in the upstream proto: accept "TRIGGER_TYPE_DATABASE", "database" or "1". */
export function parseTriggerType(text: string): number {
  const t = text
    .trim()
    .toUpperCase()
    .replace(/^TRIGGER_TYPE_/, '');
  const value = /^\d+$/.test(t) ? Number(t) : TYPE_NAMES[t];
  if (value === undefined || !Object.values(TYPE_NAMES).includes(value)) {
    throw invalidArgument(`query.trigger_type: "${text}" is not a trigger type; use DATABASE, AUTHENTICATION or SCHEDULED (or TRIGGER_TYPE_…, or 1–3)`);
  }
  return value;
}

function parse<S extends z.ZodType>(schema: S, value: unknown, root: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw fromZodError(result.error, root);
  return result.data;
}

export interface TriggerServiceOptions {
  store: MetadataStore;
  sinkKinds: () => readonly SinkKind[];
  /** Tenant boundaries (absent: every caller may use any source, topic and sink target). */
  policy?: TenantPolicy;
  /** Whether another user (a trigger's owner, when an admin writes it) is an admin. Default: the policy's view. */
  ownerOf?: (userId: string) => Promise<Owner>;
  /** Reloads what the policy knows of stored triggers (the databases tenants' sinks use) before a check. */
  refreshClaims?: () => Promise<void>;
}

/** The trigger API's TriggerService, every call scoped to the caller. */
export class TriggerService {
  constructor(private readonly options: TriggerServiceOptions) {}

  private get store(): MetadataStore {
    return this.options.store;
  }

  /** Sink options a kind marks secret (redacted in replies besides URIs and secret-looking keys). */
  readonly secretKeysOf = (kind: string): ReadonlySet<string> => {
    const found = this.options.sinkKinds().find((k) => k.kind === kind);
    return new Set(
      found
        ? optionDocs(found.configSchema)
            .filter((doc) => doc.secret)
            .map((doc) => doc.name)
        : [],
    );
  };

  private defaultSinkAvailable(): boolean {
    const kinds = this.options.sinkKinds();
    return kinds.length === 0 || kinds.some((k) => k.kind === DEFAULT_SINK.kind);
  }

  private reply(doc: TriggerDoc): TriggerReply {
    return { trigger: toTriggerMessage(doc, this.secretKeysOf) };
  }

  private shapeProblems(shape: Parameters<typeof checkTriggerShape>[0], root: string): void {
    const problems = checkTriggerShape(shape, root, this.options.sinkKinds());
    if (problems.length > 0) throw invalidArgument(problems.join('; '));
  }

  /** Whose rules a trigger follows: its owner's (an admin writing a tenant's trigger gets the tenant's rules). */
  private async ownerFor(principal: Principal, userId: string): Promise<Owner> {
    if (userId === principal.userId) return principal;
    if (this.options.ownerOf) return this.options.ownerOf(userId);
    return this.options.policy?.ownerOf(userId) ?? { userId, admin: false };
  }

  /** PERMISSION_DENIED listing every source, topic or sink target the owner may not use, and what is allowed. */
  private async checkPolicy(principal: Principal, trigger: TriggerShape, root: string): Promise<void> {
    const policy = this.options.policy;
    if (!policy) return;
    await this.options.refreshClaims?.();
    const problems = policy.problems(await this.ownerFor(principal, trigger.user_id), trigger, root);
    if (problems.length > 0) throw permissionDenied(problems.join('; '));
  }

  /** The function a trigger may use: same owner (JavaScript and WebAssembly both run). */
  private async checkFunction(owner: string, functionId: string, field: string): Promise<void> {
    await this.store.functionForTrigger(owner, functionId, field);
  }

  async create(principal: Principal, request: { trigger?: unknown }): Promise<TriggerReply> {
    if (!request.trigger) throw invalidArgument('trigger: required');
    const input = parse(triggerInputSchema, request.trigger, 'trigger');
    const owner = input.user_id || principal.userId;
    if (owner !== principal.userId && !principal.admin)
      throw new ApiError(status.PERMISSION_DENIED, `trigger.user_id: you may only create triggers for yourself ("${principal.userId}")`);
    // The original trigger API has no sinks: a trigger created without any (as its clients do) records to the audit sink.
    if (input.sinks.length === 0 && input.trigger_type !== TRIGGER_TYPE.AUTHENTICATION && this.defaultSinkAvailable()) {
      input.sinks = [{ name: DEFAULT_SINK.name, kind: DEFAULT_SINK.kind, options_json: undefined }];
    }
    this.shapeProblems(input, 'trigger');
    if (input.function_id !== '') await this.checkFunction(owner, input.function_id, 'trigger.function_id');
    const now = new Date();
    const config: TriggerDoc['config'] =
      input.trigger_type === TRIGGER_TYPE.DATABASE && input.database
        ? { database: databaseDoc(input.database) }
        : input.trigger_type === TRIGGER_TYPE.SCHEDULED && input.scheduled
          ? { scheduled: { schedule: input.scheduled.schedule.trim() } }
          : { authentication: {} };
    const batch = batchDoc(input.batch);
    const doc: TriggerDoc = {
      _id: newId(),
      user_id: owner,
      name: input.name,
      trigger_type: input.trigger_type,
      function_id: input.function_id,
      enabled: input.enabled,
      config,
      sinks: sinkDocs(input.sinks),
      ...(batch ? { batch } : {}),
      created_at: now,
      updated_at: now,
    };
    await this.checkPolicy(principal, doc, 'trigger');
    return this.reply(await this.store.insertTrigger(doc));
  }

  async update(principal: Principal, request: unknown): Promise<TriggerReply> {
    const input = parse(updateSchema, request, '');
    const existing = await this.store.getTrigger(principal, input.id);
    const set: Partial<TriggerDoc> = {};
    if (input.function_id !== '') {
      if (input.clear_function) throw invalidArgument('clear_function: give either function_id or clear_function, not both');
      await this.checkFunction(existing.user_id, input.function_id, 'function_id');
      set.function_id = input.function_id;
    } else if (input.clear_function) set.function_id = '';
    if (input.sinks) set.sinks = keepSinkSecrets(sinkDocs(input.sinks.sinks), existing.sinks, this.secretKeysOf);
    if (input.database) {
      if (existing.trigger_type !== TRIGGER_TYPE.DATABASE) throw invalidArgument('database: only DATABASE triggers have a database config');
      const config = databaseDoc(input.database);
      config.data_source = keepDataSource(config.data_source, existing.config.database?.data_source ?? '');
      set.config = { database: config };
    }
    if (input.scheduled) {
      if (existing.trigger_type !== TRIGGER_TYPE.SCHEDULED) throw invalidArgument('scheduled: only SCHEDULED triggers have a schedule');
      set.config = { scheduled: { schedule: input.scheduled.schedule.trim() } };
    }
    if (input.batch) set.batch = batchDoc(input.batch) ?? { max_size: 0, max_wait_ms: 0 };
    if (Object.keys(set).length === 0) throw invalidArgument('nothing to update: give function_id (or clear_function), sinks, database, scheduled or batch');
    const merged = { ...existing, ...set };
    this.shapeProblems(
      {
        trigger_type: merged.trigger_type,
        database: merged.config.database
          ? {
              ...merged.config.database,
              unordered: merged.config.database.unordered ?? false,
              match: merged.config.database.match ?? '',
              topic: merged.config.database.topic ?? '',
            }
          : null,
        scheduled: merged.config.scheduled ?? null,
        sinks: merged.sinks.map((s) => ({ name: s.name, kind: s.kind, options_json: s.options })),
      },
      '',
    );
    await this.checkPolicy(principal, merged, '');
    return this.reply(await this.store.updateTrigger(principal, input.id, set));
  }

  async setEnabled(principal: Principal, request: unknown, enabled: boolean): Promise<TriggerReply> {
    const { id } = parse(idRequest, request, '');
    return this.reply(await this.store.updateTrigger(principal, id, { enabled }));
  }

  async delete(principal: Principal, request: unknown): Promise<TriggerReply> {
    const { id } = parse(idRequest, request, '');
    return this.reply(await this.store.deleteTrigger(principal, id));
  }

  async get(principal: Principal, request: unknown): Promise<TriggerReply> {
    const { id } = parse(idRequest, request, '');
    return this.reply(await this.store.getTrigger(principal, id));
  }

  /**
   * The caller's triggers (an admin's: all) with how the tenant rules run them, the reconciler's plan.
   * A stored trigger the rules refuse is left out: it runs nowhere, so it grants nothing, even when
   * it was written straight into the metadata store naming another tenant's topic.
   */
  async *runnable(principal: Principal): AsyncGenerator<{ trigger: TriggerDoc; plan: RunPlan }> {
    const policy = this.options.policy;
    for await (const doc of this.store.findTriggers(principal.admin ? {} : { user_id: principal.userId })) {
      if (!policy) {
        yield { trigger: doc, plan: { sinks: doc.sinks } };
        continue;
      }
      const plan = policy.plan(await this.ownerFor(principal, doc.user_id), doc);
      if ('sinks' in plan) yield { trigger: doc, plan };
    }
  }

  /** Every trigger matching the filter that the caller may see; empty filter fields match anything. */
  async *query(principal: Principal, request: unknown): AsyncGenerator<Partial<TriggerMessage>> {
    const q = parse(querySchema, request, '').query;
    const filter: Filter<TriggerDoc> = {};
    if (q?.user_id) filter.user_id = q.user_id;
    if (!principal.admin) {
      if (q?.user_id && q.user_id !== principal.userId) return;
      filter.user_id = principal.userId;
    }
    if (q?.function_id) filter.function_id = q.function_id;
    if (q?.trigger_type) filter.trigger_type = parseTriggerType(q.trigger_type);
    if (q?.database) filter['config.database.database'] = q.database;
    if (q?.collection) filter['config.database.collection'] = q.collection;
    // Users only ever see redacted URIs, so data sources compare in their redacted form.
    const wantedSource = q?.data_source ? redactUri(q.data_source) : undefined;
    for await (const doc of this.store.findTriggers(filter)) {
      if (wantedSource !== undefined && redactUri(doc.config.database?.data_source ?? '') !== wantedSource) continue;
      yield toTriggerMessage(doc, this.secretKeysOf);
    }
  }
}
