import type { Command } from 'commander';
import { ValidationError } from '../../core/errors.js';
import { collect, connectionOptions, looksLikeId, parseJsonOption, positiveInt, withClient, type ConnectionOptions } from '../../control/cli-support.js';
import type { ControlClient } from '../../control/client.js';
import { printJson, printTable } from '../output.js';
import { resolveFunctionId } from './functions.js';

type Msg = Record<string, unknown>;
const TYPES: Record<string, number> = { database: 1, authentication: 2, scheduled: 3 };
const TYPE_NAMES: Record<number, string> = { 0: 'unknown', 1: 'database', 2: 'authentication', 3: 'scheduled' };
const OPS: Record<string, number> = { insert: 1, update: 2, replace: 3, delete: 4 };
const OP_NAMES: Record<number, string> = { 1: 'insert', 2: 'update', 3: 'replace', 4: 'delete' };

/** Accepts a trigger id or, for convenience, the caller's own trigger name. */
async function resolveTriggerId(client: ControlClient, idOrName: string): Promise<string> {
  if (looksLikeId(idOrName)) return idOrName;
  const found = (await client.stream<Msg>('triggers', 'query', { query: {} })).filter((t) => t['name'] === idOrName);
  if (found.length === 0) throw new ValidationError(`no trigger named "${idOrName}" (triggers list shows yours)`);
  if (found.length > 1) throw new ValidationError(`several triggers are named "${idOrName}"; use the id: ${found.map((t) => String(t['id'])).join(', ')}`);
  return String(found[0]?.['id']);
}

/** `--sink cache:redis` or `--sink '{"name":"copy","kind":"mongodb","uri":"mongodb://…","db":"x"}'`. */
function parseSink(spec: string): { name: string; kind: string; options_json: string } {
  if (spec.trim().startsWith('{')) {
    const value = parseJsonOption(spec, '--sink', '{"name":"cache","kind":"redis"}');
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ValidationError('--sink: expected a JSON object with name and kind');
    const { name, kind, ...options } = value as Record<string, unknown>;
    if (typeof name !== 'string' || typeof kind !== 'string') throw new ValidationError(`--sink: needs "name" and "kind" strings, got ${spec}`);
    return { name, kind, options_json: JSON.stringify(options) };
  }
  const match = /^([^:]+):([^:]+)$/.exec(spec.trim());
  if (!match?.[1] || !match[2]) throw new ValidationError(`--sink: expected name:kind (e.g. cache:redis) or a JSON object, got "${spec}"`);
  return { name: match[1], kind: match[2], options_json: '' };
}

function parseOps(value: string | undefined): number[] {
  if (value === undefined || value.trim() === '') return [];
  return value.split(',').map((op) => {
    const n = OPS[op.trim().toLowerCase()];
    if (n === undefined) throw new ValidationError(`--ops: "${op}" is not one of insert, update, replace, delete`);
    return n;
  });
}

function sourceOf(t: Msg): string {
  const db = t['database'] as Msg | null | undefined;
  if (db) {
    const ns = db['collection'] ? `${String(db['database'])}.${String(db['collection'])}` : `${String(db['database'])}.*`;
    return db['topic'] ? `topic ${String(db['topic'])}` : ns;
  }
  const scheduled = t['scheduled'] as Msg | null | undefined;
  if (scheduled) return `cron "${String(scheduled['schedule'])}"`;
  return '-';
}

function summary(t: Msg): Record<string, unknown> {
  const db = t['database'] as Msg | null | undefined;
  const ops = (db?.['operation_types'] as number[] | undefined) ?? [];
  return {
    id: t['id'],
    name: t['name'],
    user: t['user_id'],
    type: TYPE_NAMES[Number(t['trigger_type'])] ?? t['trigger_type'],
    enabled: t['enabled'] ? 'yes' : 'no',
    source: sourceOf(t),
    ops: db ? (ops.length > 0 ? ops.map((o) => OP_NAMES[o] ?? o).join(',') : 'all') : '',
    function: t['function_id'] || '(pass-through)',
    sinks: ((t['sinks'] as Msg[] | undefined) ?? []).map((s) => `${String(s['name'])}:${String(s['kind'])}`).join(' '),
  };
}

/** The JSON form users read: options as objects rather than JSON text, no grpc oneof markers. */
function forJson(t: Msg): Msg {
  const { trigger_config: _config, sinks, ...rest } = t;
  void _config;
  const clean = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== null));
  return {
    ...clean,
    sinks: ((sinks as Msg[] | undefined) ?? []).map((s) => ({
      name: s['name'],
      kind: s['kind'],
      options: s['options_json'] ? JSON.parse(String(s['options_json'])) : {},
    })),
  };
}

const COLUMNS = ['id', 'name', 'user', 'type', 'enabled', 'source', 'ops', 'function', 'sinks'];

interface ShapeOptions {
  db?: string;
  coll?: string;
  dataSource?: string;
  ops?: string;
  match?: string;
  topic?: string;
  unordered?: boolean;
  schedule?: string;
  sink?: string[];
  batchSize?: string;
  batchWaitMs?: string;
}

function batchOf(opts: ShapeOptions): Msg | undefined {
  const size = positiveInt(opts.batchSize, '--batch-size');
  const wait = positiveInt(opts.batchWaitMs, '--batch-wait-ms');
  return size === undefined && wait === undefined ? undefined : { max_size: size ?? 0, max_wait_ms: wait ?? 0 };
}

function checkMatch(match: string | undefined): void {
  if (match !== undefined) parseJsonOption(match, '--match', '{"fullDocument.status":"paid"}');
}

function withShapeOptions(command: Command): Command {
  return command
    .option('--db <database>', 'watched database (DATABASE triggers)')
    .option('--coll <collection>', 'watched collection (omit for the whole database)')
    .option('--data-source <uri>', 'MongoDB URI of the watched cluster')
    .option('--ops <list>', 'operation types, e.g. insert,update (default all)')
    .option('--match <json>', 'filter over the change event, e.g. \'{"fullDocument.status":"paid"}\'')
    .option('--topic <topic>', 'consume this Kafka topic instead of <prefix>.<db>.<coll>')
    .option('--unordered', 'allow events of different documents out of order')
    .option('--schedule <cron>', 'cron expression, UTC (SCHEDULED triggers), e.g. "*/5 * * * *"')
    .option('--sink <spec>', 'a sink: name:kind or a JSON object {"name","kind",...options} (repeatable)', collect)
    .option('--batch-size <n>', 'events per function call at most (default 500)')
    .option('--batch-wait-ms <n>', 'how long to wait to fill a batch (default 100)');
}

export function registerTriggersCommand(program: Command): void {
  const triggers = program.command('triggers').description('Create, inspect, enable, disable, change and delete triggers through the control plane (gRPC)');

  connectionOptions(
    withShapeOptions(
      triggers
        .command('create <name>')
        .description('Create a trigger; it starts within seconds unless --disabled')
        .option('--type <type>', 'database | scheduled | authentication', 'database')
        .option('--function <function>', 'function id or name (omit: events pass through to every sink)')
        .option('--disabled', 'create it disabled'),
    ),
  ).action(async (name: string, opts: ConnectionOptions & ShapeOptions & { type: string; function?: string; disabled?: boolean }) => {
    const type = TYPES[opts.type.toLowerCase()];
    if (type === undefined) throw new ValidationError(`--type: expected database, scheduled or authentication, got "${opts.type}"`);
    checkMatch(opts.match);
    const sinks = (opts.sink ?? []).map(parseSink);
    const batch = batchOf(opts);
    const reply = await withClient(opts, async (c) => {
      const trigger: Msg = { name, trigger_type: type, enabled: !opts.disabled, sinks, ...(batch ? { batch } : {}) };
      if (opts.function) trigger['function_id'] = await resolveFunctionId(c, opts.function);
      if (type === 1) {
        trigger['database'] = {
          data_source: opts.dataSource ?? '',
          database: opts.db ?? '',
          collection: opts.coll ?? '',
          operation_types: parseOps(opts.ops),
          match: opts.match ?? '',
          topic: opts.topic ?? '',
          unordered: opts.unordered ?? false,
        };
      } else if (type === 3) trigger['scheduled'] = { schedule: opts.schedule ?? '' };
      else trigger['authentication'] = {};
      return (await c.call<{ trigger: Msg }>('triggers', 'create', { trigger })).trigger;
    });
    if (opts.json) printJson(forJson(reply));
    else
      console.log(
        `created trigger "${String(reply['name'])}" ${String(reply['id'])} (${reply['enabled'] ? 'enabled' : 'disabled'}; runtime key ${String(reply['runtime_key'])})`,
      );
  });

  connectionOptions(
    triggers
      .command('list')
      .description("List your triggers (admins: everyone's), optionally filtered")
      .option('--user <id>', "only this user's (admins)")
      .option('--function <id>', 'only triggers running this function id')
      .option('--type <type>', 'database | scheduled | authentication')
      .option('--data-source <uri>', 'only triggers watching this data source')
      .option('--db <database>', 'only triggers watching this database')
      .option('--coll <collection>', 'only triggers watching this collection'),
  ).action(async (opts: ConnectionOptions & { user?: string; function?: string; type?: string; dataSource?: string; db?: string; coll?: string }) => {
    const query = {
      user_id: opts.user ?? '',
      function_id: opts.function ?? '',
      trigger_type: opts.type ?? '',
      data_source: opts.dataSource ?? '',
      database: opts.db ?? '',
      collection: opts.coll ?? '',
    };
    const items = await withClient(opts, (c) => c.stream<Msg>('triggers', 'query', { query }));
    if (opts.json) printJson(items.map(forJson));
    else if (items.length === 0) console.log('no triggers');
    else printTable(items.map(summary), COLUMNS);
  });

  connectionOptions(triggers.command('get <trigger>').description('Show one trigger (by id or name)')).action(async (ref: string, opts: ConnectionOptions) => {
    const t = await withClient(opts, async (c) => (await c.call<{ trigger: Msg }>('triggers', 'get', { id: await resolveTriggerId(c, ref) })).trigger);
    if (opts.json) return printJson(forJson(t));
    printTable([summary(t)], COLUMNS);
    const db = t['database'] as Msg | null | undefined;
    if (db?.['data_source']) console.log(`\ndata source  ${String(db['data_source'])}`);
    if (db?.['match']) console.log(`match        ${String(db['match'])}`);
    console.log(`runtime key  ${String(t['runtime_key'])}`);
    for (const s of (t['sinks'] as Msg[] | undefined) ?? [])
      console.log(`sink         ${String(s['name'])} (${String(s['kind'])}) ${String(s['options_json'] || '{}')}`);
  });

  connectionOptions(
    withShapeOptions(
      triggers
        .command('update <trigger>')
        .description("Change a trigger's function, sinks, source or batching; it restarts within seconds")
        .option('--function <function>', 'run this function (id or name)')
        .option('--clear-function', 'run no function: events pass through to every sink'),
    ),
  ).action(async (ref: string, opts: ConnectionOptions & ShapeOptions & { function?: string; clearFunction?: boolean }) => {
    checkMatch(opts.match);
    const t = await withClient(opts, async (c) => {
      const id = await resolveTriggerId(c, ref);
      const request: Msg = { id, clear_function: opts.clearFunction ?? false };
      if (opts.function) request['function_id'] = await resolveFunctionId(c, opts.function);
      if (opts.sink) request['sinks'] = { sinks: opts.sink.map(parseSink) };
      const batch = batchOf(opts);
      if (batch) request['batch'] = batch;
      if (opts.schedule !== undefined) request['scheduled'] = { schedule: opts.schedule };
      const touchesDb = [opts.db, opts.coll, opts.dataSource, opts.ops, opts.match, opts.topic, opts.unordered].some((v) => v !== undefined);
      if (touchesDb) {
        // The server replaces the whole database config: start from the current one (its redacted URI is kept as stored).
        const current = ((await c.call<{ trigger: Msg }>('triggers', 'get', { id })).trigger['database'] ?? {}) as Msg;
        request['database'] = {
          ...current,
          ...(opts.db !== undefined ? { database: opts.db } : {}),
          ...(opts.coll !== undefined ? { collection: opts.coll } : {}),
          ...(opts.dataSource !== undefined ? { data_source: opts.dataSource } : {}),
          ...(opts.ops !== undefined ? { operation_types: parseOps(opts.ops) } : {}),
          ...(opts.match !== undefined ? { match: opts.match } : {}),
          ...(opts.topic !== undefined ? { topic: opts.topic } : {}),
          ...(opts.unordered !== undefined ? { unordered: opts.unordered } : {}),
        };
      }
      return (await c.call<{ trigger: Msg }>('triggers', 'update', request)).trigger;
    });
    if (opts.json) printJson(forJson(t));
    else console.log(`updated trigger "${String(t['name'])}" ${String(t['id'])}`);
  });

  for (const [verb, past, description] of [
    ['enable', 'enabled', 'Start a trigger again; it resumes from its committed offsets (nothing is missed)'],
    ['disable', 'disabled', 'Stop a trigger within seconds; its offsets are kept'],
    ['delete', 'deleted', 'Delete a trigger; its consumer stops within seconds'],
  ] as const) {
    connectionOptions(triggers.command(`${verb} <trigger>`).description(description)).action(async (ref: string, opts: ConnectionOptions) => {
      const t = await withClient(opts, async (c) => (await c.call<{ trigger: Msg }>('triggers', verb, { id: await resolveTriggerId(c, ref) })).trigger);
      if (opts.json) printJson(forJson(t));
      else console.log(`${past} trigger "${String(t['name'])}" ${String(t['id'])}`);
    });
  }
}
