import { EJSON, type Document } from '../schemas/bson.js';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { ChangeflowError, UnavailableError, ValidationError, errorMessage } from '../core/errors.js';
import { describeZodError } from '../core/schema-errors.js';
import { SinkWriteError, type Sink, type SinkDependencies, type SinkKind, type SinkRecord } from './sink.js';
import { sinkEntrySchema } from './sink-config.js';
import { SinkStatus } from './sink-status.js';
import { InvalidValueError } from '../schemas/value-errors.js';
import { isValidTemplate, renderTemplate, TemplateError, toBson } from '../schemas/values.js';

const template = z.string().min(1).refine(isValidTemplate, { error: 'unbalanced braces: write fields as {documentKey._id}' });

export const redisSinkSchema = sinkEntrySchema('redis', {
  url: z
    .string()
    .startsWith('redis', { error: 'expected a redis:// URL' })
    .optional()
    .meta({ description: 'Redis URL (default: `redis.url` of changeflow.yaml or REDIS_URL).', example: 'redis://127.0.0.1:6379', secret: true }),
  key: template.default('{ns.coll}:{documentKey._id}').meta({
    description: 'Key template for pass-through events; `{path}` is replaced by that field of the event (ObjectIds as hex).',
    example: 'user:{documentKey._id}',
  }),
  keyPrefix: z.string().default('').meta({ description: 'Prepended to every key, including keys from function actions.', example: 'cache:' }),
  mode: z.enum(['refresh', 'invalidate']).default('refresh').meta({
    description: '`refresh`: write the full document (delete when the event has none); `invalidate`: delete the key of every changed document.',
  }),
  ttlSeconds: z.number().int().positive().optional().meta({ description: 'Expiry of keys set by pass-through events.', example: 3600 }),
  json: z.enum(['relaxed', 'canonical']).default('relaxed').meta({
    description: 'How documents are stored: `relaxed` Extended JSON (plain numbers, for applications) or `canonical` (every BSON type kept).',
  }),
  timeoutMs: z.number().int().positive().default(5_000).meta({ description: 'Connect and command timeout; a batch that exceeds it fails and is retried.' }),
});
export type RedisSinkConfig = z.output<typeof redisSinkSchema>;

const key = z.string({ error: 'key must be a non-empty string' }).min(1, { error: 'key must be a non-empty string' });
const ttl = z.number().int({ error: 'ttlSeconds must be a whole number' }).positive({ error: 'ttlSeconds must be > 0' });
export const redisActionSchema = z.discriminatedUnion('op', [
  z.strictObject({ sink: z.string(), op: z.literal('set'), key, value: z.unknown(), ttlSeconds: ttl.optional() }),
  z.strictObject({ sink: z.string(), op: z.literal('del'), key }),
  z.strictObject({
    sink: z.string(),
    op: z.literal('hset'),
    key,
    fields: z.record(z.string(), z.unknown()).refine((f) => Object.keys(f).length > 0, { error: 'fields needs at least one field' }),
  }),
  z.strictObject({ sink: z.string(), op: z.literal('expire'), key, ttlSeconds: ttl }),
]);
export type RedisAction = z.output<typeof redisActionSchema>;
const redisOps = ['set', 'del', 'hset', 'expire'];

/** One Redis command of a batch and the record it came from. */
interface Command {
  index: number;
  name: 'set' | 'del' | 'hset' | 'expire';
  args: (string | number)[];
}

class RedisSink implements Sink {
  readonly kind = 'redis';
  readonly name: string;
  private readonly redis: Redis;
  private readonly status: SinkStatus;
  private stopped = false;

  constructor(
    private readonly config: RedisSinkConfig,
    dependencies: SinkDependencies,
  ) {
    this.name = config.name;
    const url = config.url ?? dependencies.context.config.redis?.url;
    if (!url)
      throw new ValidationError(`redis sink "${config.name}": no Redis URL; set url on the sink, redis.url in changeflow.yaml, or REDIS_URL`, {
        code: 'CONFIG_INVALID',
      });
    // No offline queue: while Redis is down a batch fails at once (and the processor backs off) instead of piling up.
    this.redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: config.timeoutMs,
      commandTimeout: config.timeoutMs,
      retryStrategy: (times) => (this.stopped ? null : Math.min(times * 200, 2_000)),
    });
    this.redis.on('error', () => undefined); // reported through write() and health
    this.status = new SinkStatus(dependencies, this.kind, this.name);
  }

  async start(): Promise<void> {
    try {
      await this.redis.connect();
      this.status.ok();
    } catch (error) {
      this.status.failing('Redis unreachable at start', error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.status.remove();
    this.redis.disconnect();
  }

  /** `path` names the value in the reason when it is not valid Extended JSON. */
  private json(ejson: unknown, path: string): string {
    if (this.config.json === 'canonical') return JSON.stringify(ejson);
    return EJSON.stringify(toBson(ejson, path), { relaxed: true });
  }

  private fieldValue(ejson: unknown, path: string): string {
    return typeof ejson === 'string' ? ejson : this.json(ejson, path);
  }

  /** The record's commands, or why it can never be written (a bad field, an invalid value). */
  private commandsFor(record: SinkRecord, index: number): Command[] | string {
    try {
      return this.buildCommands(record, index);
    } catch (error) {
      if (error instanceof InvalidValueError) return `event ${record.event.id}: ${error.message}`;
      throw error;
    }
  }

  private buildCommands(record: SinkRecord, index: number): Command[] | string {
    const prefix = this.config.keyPrefix;
    if (record.action) {
      const parsed = redisActionSchema.safeParse(record.action);
      if (!parsed.success) {
        const op = record.action.op;
        if (!redisOps.includes(op)) return `action.op: unknown op "${op}" for a redis sink; use one of ${redisOps.join(', ')}`;
        return `invalid redis action: ${describeZodError(parsed.error, 'action').join('; ')}`;
      }
      const action = parsed.data;
      const k = prefix + action.key;
      switch (action.op) {
        case 'set':
          return [
            {
              index,
              name: 'set',
              args: action.ttlSeconds
                ? [k, this.json(action.value ?? null, 'action.value'), 'EX', action.ttlSeconds]
                : [k, this.json(action.value ?? null, 'action.value')],
            },
          ];
        case 'del':
          return [{ index, name: 'del', args: [k] }];
        case 'hset':
          return [{ index, name: 'hset', args: [k, ...Object.entries(action.fields).flatMap(([f, v]) => [f, this.fieldValue(v, `action.fields.${f}`)])] }];
        case 'expire':
          return [{ index, name: 'expire', args: [k, action.ttlSeconds] }];
      }
    }
    const event = record.event;
    if (event.op === 'drop' || event.op === 'rename' || event.op === 'dropDatabase' || event.op === 'invalidate') return [];
    let k: string;
    try {
      k = prefix + renderTemplate(this.config.key, event);
    } catch (error) {
      if (error instanceof TemplateError) return `event ${event.id}: ${error.message}`;
      throw error;
    }
    const doc = event.fullDocument;
    if (this.config.mode === 'invalidate' || event.op === 'delete' || !doc) return [{ index, name: 'del', args: [k] }];
    const value = this.json(doc as Document, 'fullDocument');
    return [{ index, name: 'set', args: this.config.ttlSeconds ? [k, value, 'EX', this.config.ttlSeconds] : [k, value] }];
  }

  async write(records: readonly SinkRecord[]): Promise<void> {
    const rejected: { index: number; reason: string }[] = [];
    const commands: Command[] = [];
    records.forEach((record, index) => {
      const made = this.commandsFor(record, index);
      if (typeof made === 'string') rejected.push({ index, reason: made });
      else commands.push(...made);
    });
    if (commands.length > 0) {
      let results: [Error | null, unknown][] | null;
      try {
        if (this.redis.status === 'wait' || this.redis.status === 'end') await this.redis.connect();
        // MULTI/EXEC: the batch is applied in order and all at once, in one round trip.
        const multi = this.redis.multi();
        for (const c of commands) multi.call(c.name, ...c.args);
        results = await multi.exec();
      } catch (error) {
        if (isPermanentReply(error))
          throw new ChangeflowError(`redis sink "${this.name}": Redis refused the batch: ${errorMessage(error)}`, {
            cause: error,
            retriable: false,
            code: 'SINK_WRITE_REFUSED',
          });
        const wrapped = new UnavailableError(`redis sink "${this.name}": ${errorMessage(error)}`, { cause: error });
        this.status.failing('writing to Redis failed', wrapped);
        throw wrapped;
      }
      if (!results) {
        const error = new UnavailableError(`redis sink "${this.name}": the transaction was aborted`);
        this.status.failing('writing to Redis failed', error);
        throw error;
      }
      results.forEach(([error], i) => {
        const command = commands[i];
        if (error && command) rejected.push({ index: command.index, reason: `${command.name} ${String(command.args[0])}: ${error.message}` });
      });
    }
    this.status.ok();
    this.status.count('rejected', rejected.length);
    this.status.count('written', records.length - rejected.length);
    if (rejected.length > 0)
      throw new SinkWriteError(
        `redis sink "${this.name}": Redis refused ${rejected.length} of ${records.length} records (first: ${rejected[0]?.reason ?? ''})`,
        rejected,
      );
  }
}

/** Server replies that mean "not now": loading, busy script, failover, out of memory, cluster moving. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|OOM|MOVED|ASK)\b/;

/**
 * Redis answered, and said no for a reason no retry changes (EXECABORT after a command the server
 * refused to queue, WRONGTYPE…). Connection trouble and transient replies are not permanent.
 */
function isPermanentReply(error: unknown): boolean {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return false;
  return !TRANSIENT_REPLY.test(error.message);
}

export const redisSinkKind: SinkKind<typeof redisSinkSchema> = {
  kind: 'redis',
  description:
    'Keeps a Redis cache up to date. Without a function: sets `<coll>:<_id>` to the document on insert/update/replace/snapshot and deletes it on delete (`mode: invalidate` deletes on every change). ' +
    'Function actions: set (JSON, optional ttlSeconds), del, hset, expire. One MULTI/EXEC per batch.',
  configSchema: redisSinkSchema,
  create: (config, dependencies) => new RedisSink(config, dependencies),
};
