import { defaultStateDb } from '../schemas/echo-ledger.js';
import { literalHostRefusal } from '../sinks/address-guard.js';
import { isInternalTopic, topicMatches, type TopicGuard } from '../sinks/topic-guard.js';
import type { SinkDoc } from './documents.js';
import { uriGranted } from './uri-grants.js';

/** What a tenant's sinks may target, resolved for one tenant. */
export interface SinkLimits {
  prefix: string;
  /** The metadata store's database (`mongodb.db`). */
  metadataDb: string;
  /** `redis.url`: where a Redis sink without `url` writes. */
  redisUrl: string | undefined;
  sinkUris: readonly string[] | undefined;
  sinkTopics: readonly string[];
  /** The only collection the tenant's audit sinks write. */
  auditCollection: string;
  /** Put before every key the tenant's Redis sinks write (before the sink's own `keyPrefix`). */
  redisKeyNamespace: string;
}

const SYSTEM_DBS = ['admin', 'local', 'config'];

/** Databases a tenant's MongoDB sink never writes, on any server: MongoDB reaches case variants of a name as the same database. */
export function protectedDb(db: string, limits: Pick<SinkLimits, 'metadataDb'>): string | undefined {
  const name = db.toLowerCase();
  if (name === limits.metadataDb.toLowerCase()) return "the metadata store's database (mongodb.db: triggers, functions, tokens, leases)";
  if (name === defaultStateDb) return "the sinks' state database (versions and echo ledger)";
  if (SYSTEM_DBS.includes(name)) return 'a MongoDB system database';
  return undefined;
}

/** `<prefix>.audit.<userId>` style, but a valid collection name whatever the userId holds. */
export function auditCollectionOf(userId: string): string {
  return /^[A-Za-z0-9_-]{1,64}$/.test(userId) ? `audit.${userId}` : `audit.u${Buffer.from(userId, 'utf8').toString('hex').slice(0, 60)}`;
}

/**
 * `tenant:<userId>:`, with the userId percent-encoded so it holds no `:`: the namespace ends at its
 * first `:` after `tenant:`, and no userId or keyPrefix can make one tenant's keys fall in another's.
 */
export function redisKeyNamespaceOf(userId: string): string {
  return `tenant:${encodeURIComponent(userId)}:`;
}

/** Without `sinkUris`, a tenant's HTTP sink may not name this machine or a private address (DNS is checked when it connects). */
function privateTargetProblem(field: string, url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return undefined; // the sink's own schema explains a malformed URL
  }
  const refusal = literalHostRefusal(host);
  return refusal && `${field}: ${refusal}; tenants' HTTP sinks reach public addresses only (an admin can grant a target in auth.tenants[].sinkUris)`;
}

function uriProblem(field: string, uri: string, limits: SinkLimits): string | undefined {
  if (!limits.sinkUris || uriGranted(uri, limits.sinkUris)) return undefined;
  return `${field}: this target is not granted; your sinks may write to URIs starting with ${limits.sinkUris.map((u) => `"${u}"`).join(', ') || '(none)'} (auth.tenants[].sinkUris)`;
}

export function kafkaTopicProblem(topic: string, limits: SinkLimits): string | undefined {
  if (isInternalTopic(topic, limits.prefix)) return `"${topic}" is one of changeflow's internal topics (${limits.prefix}.__*), never a tenant's sink target`;
  if (topic.startsWith(`${limits.prefix}.`) && !topicMatches(topic, limits.sinkTopics)) {
    return `topics under "${limits.prefix}." are changeflow's; granted to you: ${limits.sinkTopics.join(', ') || 'none'} (auth.tenants[].sinkTopics); any topic outside the prefix is allowed`;
  }
  return undefined;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Problems of one tenant sink, each naming the field (`<at>.options_json.db`) and what is allowed. */
export function sinkProblems(sink: SinkDoc, at: string, limits: SinkLimits): string[] {
  const o = sink.options;
  const field = (key: string): string => `${at}.options_json.${key}`;
  const problems: (string | undefined)[] = [];
  switch (sink.kind) {
    case 'mongodb': {
      const db = str(o['db']);
      const dbWhy = db === undefined ? undefined : protectedDb(db, limits);
      if (dbWhy) problems.push(`${field('db')}: "${db}" is ${dbWhy}; a tenant's MongoDB sink may write any other database`);
      const stateDb = str(o['stateDb']);
      const stateWhy = stateDb === undefined || stateDb.toLowerCase() === defaultStateDb ? undefined : protectedDb(stateDb, limits);
      if (stateWhy) problems.push(`${field('stateDb')}: "${stateDb}" is ${stateWhy}; leave stateDb unset or name a database of your own`);
      const uri = str(o['uri']);
      if (uri !== undefined) problems.push(uriProblem(field('uri'), uri, limits));
      break;
    }
    case 'redis': {
      const url = str(o['url']) ?? limits.redisUrl;
      if (url !== undefined) problems.push(uriProblem(str(o['url']) ? field('url') : `${field('url')} (unset: redis.url)`, url, limits));
      break;
    }
    case 'http': {
      if (o['publicOnly'] !== undefined) problems.push(`${field('publicOnly')}: set by the control plane, not by a tenant; remove it`);
      const url = str(o['url']);
      if (url !== undefined) problems.push(limits.sinkUris ? uriProblem(field('url'), url, limits) : privateTargetProblem(field('url'), url));
      break;
    }
    case 'kafka': {
      if (o['topicGuard'] !== undefined) problems.push(`${field('topicGuard')}: set by the control plane, not by a tenant; remove it`);
      const topic = str(o['topic']);
      const why = topic === undefined ? undefined : kafkaTopicProblem(topic, limits);
      if (why) problems.push(`${field('topic')}: ${why}`);
      break;
    }
    case 'audit': {
      const collection = str(o['collection']);
      if (collection !== undefined && collection !== limits.auditCollection) {
        problems.push(`${field('collection')}: your audit sinks write only your own collection "${limits.auditCollection}" (leave collection unset)`);
      }
      break;
    }
    default:
      break;
  }
  return problems.filter((p): p is string => p !== undefined);
}

/**
 * A tenant's sink as it runs: audit sinks in the tenant's own collection, Redis sinks in the
 * tenant's own key namespace (tenants may share one Redis), HTTP sinks on public addresses only
 * (unless an admin granted targets), Kafka sinks behind a topic guard.
 */
export function runtimeSinkOptions(sink: SinkDoc, limits: SinkLimits): Record<string, unknown> {
  if (sink.kind === 'audit') return { ...sink.options, collection: limits.auditCollection };
  if (sink.kind === 'http' && !limits.sinkUris) return { ...sink.options, publicOnly: true };
  if (sink.kind === 'redis') return { ...sink.options, keyPrefix: limits.redisKeyNamespace + (str(sink.options['keyPrefix']) ?? '') };
  if (sink.kind === 'kafka') {
    const guard: TopicGuard = { internalPrefix: limits.prefix, forbidden: [`${limits.prefix}.*`], granted: [...limits.sinkTopics] };
    return { ...sink.options, topicGuard: guard };
  }
  return sink.options;
}
