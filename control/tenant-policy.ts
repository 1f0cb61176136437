import type { TenantRules } from '../core/auth-config.js';
import type { ControlConfig } from './control-config.js';
import { TENANT_FUNCTION_CAPS, type FunctionCaps } from './function-caps.js';
import { isInternalTopic, topicMatches } from '../sinks/topic-guard.js';
import type { TriggerDefinition } from '../processors/trigger-definition.js';
import { TRIGGER_TYPE, type SinkDoc, type TriggerDoc } from './documents.js';
import { auditCollectionOf, protectedDb, redisKeyNamespaceOf, runtimeSinkOptions, sinkProblems, type SinkLimits } from './tenant-sinks.js';
import { coversNamespace, describeSource, ownSource, ownTopicPrefix, overlapsNamespace, sourceTopicPattern, type WatchedSource } from './tenant-sources.js';
import { uriGranted } from './uri-grants.js';
import { DatabaseClaims, type ClaimingTrigger } from './database-claims.js';

/** Whose rules apply to a trigger: its owner, an admin or a tenant. */
export interface Owner {
  userId: string;
  admin: boolean;
}

/** The trigger fields the policy looks at (a stored document, or a request about to become one). */
export type TriggerShape = Pick<TriggerDoc, 'user_id' | 'trigger_type' | 'config' | 'sinks'>;

/** How an allowed trigger runs: the source it reads, the source to start for it, and its sinks as they run. */
export interface RunPlan {
  /** Replaces the namespace source (`<prefix>.<db>.<coll>`) the definition would read otherwise. */
  source?: TriggerDefinition['source'];
  /** The source to start for the trigger's own data_source. */
  ownSource?: { name: string; topic: string };
  sinks: SinkDoc[];
}

export interface PolicySettings {
  prefix: string;
  metadataDb: string;
  redisUrl: string | undefined;
  sources: readonly WatchedSource[];
  adminUserIds: readonly string[];
  tenants: readonly ({ userId: string } & TenantRules)[];
  tenantDefaults: TenantRules;
  /** Databases changeflow.yaml's triggers write: the operator's, never a tenant's sink target. */
  operatorDatabases?: readonly string[];
}

type SourceChoice = { problem: string } | { plan: Omit<RunPlan, 'sinks'> };

/** `root.field`, or `field` at the top level of a request. */
const under = (root: string, field: string): string => (root === '' ? field : `${root}.${field}`);

const list = (items: readonly string[]): string => (items.length > 0 ? items.join(', ') : 'none');

/**
 * The boundaries between tenants (docs/security.md): which sources a user's triggers read, which
 * topics and sink targets they may name. Admins keep every power; a tenant is any other user.
 * Checked when a trigger is created or updated (PERMISSION_DENIED) and again whenever a stored
 * trigger becomes runnable, so a stored trigger the rules no longer allow stops instead of running.
 */
export class TenantPolicy {
  private storedAdmins: ReadonlySet<string> = new Set();
  private claims: DatabaseClaims | undefined;

  constructor(private readonly settings: PolicySettings) {}

  static fromConfig(config: ControlConfig): TenantPolicy {
    return new TenantPolicy({
      prefix: config.kafka.topicPrefix,
      metadataDb: config.mongodb.db,
      redisUrl: config.redis?.url,
      sources: config.sources.map((s) => ({ name: s.name, uri: s.uri, watch: s.watch, topic: s.topic, readers: s.readers })),
      adminUserIds: config.auth.tokens.filter((t) => t.admin).map((t) => t.userId),
      tenants: config.auth.tenants,
      tenantDefaults: config.auth.tenantDefaults,
      operatorDatabases: (config.triggers ?? []).flatMap((t) =>
        t.sinks.filter((s) => s.kind === 'mongodb').flatMap((s) => [s['db'], s['stateDb']].filter((n): n is string => typeof n === 'string')),
      ),
    });
  }

  /** Admins from the metadata store's `tokens` collection (refreshed by the reconciler). */
  setStoredAdmins(userIds: Iterable<string>): void {
    this.storedAdmins = new Set(userIds);
  }

  /**
   * The stored triggers, for the databases each tenant's MongoDB sinks may write (refreshed before
   * every reconcile pass and before a trigger is created or updated).
   */
  setStoredTriggers(triggers: readonly ClaimingTrigger[]): void {
    const watched = this.settings.sources.flatMap((s) => (s.watch.db ? [s.watch.db] : []));
    this.claims = new DatabaseClaims(triggers, [...watched, ...(this.settings.operatorDatabases ?? [])], (userId) => this.ownerOf(userId).admin);
  }

  ownerOf(userId: string): Owner {
    return { userId, admin: this.settings.adminUserIds.includes(userId) || this.storedAdmins.has(userId) };
  }

  rulesFor(userId: string): TenantRules {
    const own = this.settings.tenants.find((t) => t.userId === userId);
    const merged: TenantRules = { ...this.settings.tenantDefaults };
    for (const [key, value] of Object.entries(own ?? {})) if (key !== 'userId' && value !== undefined) (merged as Record<string, unknown>)[key] = value;
    return merged;
  }

  limitsFor(userId: string): SinkLimits {
    const rules = this.rulesFor(userId);
    return {
      prefix: this.settings.prefix,
      metadataDb: this.settings.metadataDb,
      redisUrl: this.settings.redisUrl,
      sinkUris: rules.sinkUris,
      sinkTopics: rules.sinkTopics ?? [],
      auditCollection: auditCollectionOf(userId),
      redisKeyNamespace: redisKeyNamespaceOf(userId),
    };
  }

  /** Every reason the owner may not have this trigger, each naming the field under `root` and what is allowed; [] = allowed. */
  problems(owner: Owner, trigger: TriggerShape, root: string): string[] {
    if (owner.admin) return [];
    const problems: string[] = [];
    const choice = this.chooseSource(owner, trigger, root);
    if ('problem' in choice) problems.push(choice.problem);
    const limits = this.limitsFor(owner.userId);
    trigger.sinks.forEach((sink, i) => problems.push(...sinkProblems(sink, under(root, `sinks[${i}]`), limits)));
    trigger.sinks.forEach((sink, i) => problems.push(...this.claimProblems(owner.userId, sink, under(root, `sinks[${i}]`))));
    return problems;
  }

  /** A tenant's MongoDB sink naming a database someone else uses (DatabaseClaims). */
  private claimProblems(userId: string, sink: SinkDoc, at: string): string[] {
    if (sink.kind !== 'mongodb') return [];
    const claims = this.claims ?? this.configClaims();
    return (['db', 'stateDb'] as const).flatMap((key) => {
      const db = sink.options[key];
      const why = typeof db === 'string' && db !== '' ? claims.refusal(userId, db) : undefined;
      return why ? [`${at}.options_json.${key}: ${why}`] : [];
    });
  }

  /** Before the first refresh: the operator's databases alone. */
  private configClaims(): DatabaseClaims {
    this.setStoredTriggers([]);
    return this.claims ?? DatabaseClaims.empty();
  }

  /** How a stored trigger runs for its owner, or why it may not (the reconciler then leaves it stopped). */
  plan(owner: Owner, trigger: TriggerShape): RunPlan | { reason: string } {
    const problems = this.problems(owner, trigger, 'trigger');
    if (problems.length > 0) return { reason: `not allowed for user "${owner.userId}": ${problems.join('; ')}` };
    const choice = this.chooseSource(owner, trigger, 'trigger');
    const source = 'plan' in choice ? choice.plan : {};
    if (owner.admin) return { ...source, sinks: trigger.sinks };
    const limits = this.limitsFor(owner.userId);
    return { ...source, sinks: trigger.sinks.map((s) => ({ ...s, options: runtimeSinkOptions(s, limits) })) };
  }

  /**
   * Why the owner may not send records back into `topic` (a dead-letter redrive), or undefined. A
   * redrive re-publishes into the topic the events came from, and every consumer of that topic meets
   * them again: a tenant may do so only into topics no other user reads (its own sources' topics, or
   * a config source only it may read that no other tenant is granted); an admin anywhere.
   */
  redriveRefusal(owner: Owner, topic: string): string | undefined {
    if (owner.admin) return undefined;
    const { prefix, sources, tenants, tenantDefaults } = this.settings;
    if (topic.startsWith(ownTopicPrefix(prefix, owner.userId))) return undefined;
    const source = sources.find((s) => topicMatches(topic, [sourceTopicPattern(prefix, s)]));
    const onlyReader = source !== undefined && source.readers.length === 1 && source.readers[0] === owner.userId;
    const grantedToOthers = [tenantDefaults, ...tenants.filter((t) => t.userId !== owner.userId)].some((r) => topicMatches(topic, r.topics ?? []));
    if (onlyReader && !grantedToOthers) return undefined;
    return `"${topic}" is read by other users' triggers too (a shared source); redriving into it would deliver these events to them again: ask an admin to replay (changeflow dlq replay)`;
  }

  /** The config sources a user's triggers may read without a data_source of their own. */
  readableSources(owner: Owner): WatchedSource[] {
    return this.settings.sources.filter((s) => owner.admin || s.readers.includes(owner.userId));
  }

  /** Config sources publishing into the namespace's topics that the user may not read. */
  private hiddenSources(owner: Owner, db: string, coll: string | undefined): WatchedSource[] {
    const readable = this.readableSources(owner);
    return this.settings.sources.filter((s) => !readable.includes(s) && overlapsNamespace(s, db, coll));
  }

  private chooseSource(owner: Owner, trigger: TriggerShape, root: string): SourceChoice {
    const db = trigger.config.database;
    if (trigger.trigger_type !== TRIGGER_TYPE.DATABASE || !db) return { plan: {} };
    const at = under(root, 'database');
    if (db.topic) return this.topicChoice(owner, db.topic, `${at}.topic`);
    const coll = db.collection === '' ? undefined : db.collection;
    const ns = coll === undefined ? `${db.database}.*` : `${db.database}.${coll}`;
    if (!owner.admin) {
      const why = protectedDb(db.database, { metadataDb: this.settings.metadataDb });
      if (why) return { problem: `${at}.database: "${db.database}" is ${why}, which no tenant's trigger reads` };
    }
    const readable = this.readableSources(owner);
    const dataSource = db.data_source.trim();
    if (dataSource !== '') {
      const allowed = this.rulesFor(owner.userId).dataSources;
      if (!owner.admin && allowed && !uriGranted(dataSource, allowed)) {
        return {
          problem: `${at}.data_source: this URI is not granted; your data sources must start with ${allowed.map((u) => `"${u}"`).join(', ') || '(none)'} (auth.tenants[].dataSources)`,
        };
      }
      // The namespace topic is shared by every config source publishing the namespace: read it only when all of those are readable.
      const shared = readable.some((s) => s.uri.trim() === dataSource && coversNamespace(s, db.database, coll));
      if (shared && !this.hiddenSources(owner, db.database, coll).length) return { plan: {} };
      const own = ownSource(this.settings.prefix, owner.userId, { dataSource, db: db.database, ...(coll !== undefined ? { coll } : {}) });
      return { plan: { source: { topic: own.topic }, ownSource: own } };
    }
    if (owner.admin) return { plan: {} };
    const hidden = this.hiddenSources(owner, db.database, coll);
    const covering = readable.filter((s) => coversNamespace(s, db.database, coll));
    const grants = `readable for you: ${list(readable.map(describeSource))}; give your own data_source (a MongoDB URI), or ask an admin to add "${owner.userId}" to a source's readers (sources[].readers)`;
    if (hidden.length > 0) return { problem: `${at}.data_source: ${ns} is published by a source you may not read; ${grants}` };
    if (covering.length === 0) return { problem: `${at}.data_source: empty, and no source you may read covers ${ns}; ${grants}` };
    return { plan: {} };
  }

  private topicChoice(owner: Owner, topic: string, field: string): SourceChoice {
    if (owner.admin) return { plan: {} };
    const { prefix } = this.settings;
    const readable = this.readableSources(owner).map((s) => sourceTopicPattern(prefix, s));
    const granted = this.rulesFor(owner.userId).topics ?? [];
    const allowed = `allowed: your own sources' topics (${ownTopicPrefix(prefix, owner.userId)}*), ${readable.length > 0 ? `the topics of sources you may read (${readable.join(', ')})` : 'no config source topics'}, topics granted in auth.tenants[].topics (${list(granted)})`;
    if (isInternalTopic(topic, prefix))
      return {
        problem: `${field}: "${topic}" is one of changeflow's internal topics (${prefix}.__*, offsets, dead letters, DDL), never a tenant's source; ${allowed}`,
      };
    if (topic.startsWith(ownTopicPrefix(prefix, owner.userId)) || topicMatches(topic, granted)) return { plan: {} };
    // A whole-server source's pattern (`<prefix>.*`) must not reach other users' own-source topics nor the audit topic.
    const othersOrAudit = topic.startsWith(`${prefix}.ds-`) || topic === `${prefix}.audit`;
    if (!othersOrAudit && topicMatches(topic, readable)) return { plan: {} };
    return { problem: `${field}: "${topic}" is not a topic you may read; ${allowed}` };
  }
}

/** The function limits of a principal: admins `auth.adminLimits`, tenants their rules or TENANT_FUNCTION_CAPS. */
export function capsFor(config: ControlConfig): (principal: Owner) => FunctionCaps {
  const policy = TenantPolicy.fromConfig(config);
  return (principal) => {
    if (principal.admin) return { ...config.auth.adminLimits };
    const rules = policy.rulesFor(principal.userId);
    return { maxTimeoutMs: rules.maxTimeoutMs ?? TENANT_FUNCTION_CAPS.maxTimeoutMs, maxMemoryMiB: rules.maxMemoryMiB ?? TENANT_FUNCTION_CAPS.maxMemoryMiB };
  };
}
