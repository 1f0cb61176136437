import type { Command } from 'commander';
import { ValidationError } from '../../core/errors.js';
import {
  collect,
  connectionOptions,
  looksLikeId,
  parseJsonOption,
  positiveInt,
  readBinaryFile,
  readTextFile,
  withClient,
  type ConnectionOptions,
} from '../../control/cli-support.js';
import type { ControlClient } from '../../control/client.js';
import { printJson, printTable } from '../output.js';

type Fn = Record<string, unknown>;
const TYPES: Record<number, string> = { 0: 'unknown', 1: 'wasm', 2: 'javascript' };

/** Accepts a function id or, for convenience, the caller's own function name. */
export async function resolveFunctionId(client: ControlClient, idOrName: string): Promise<string> {
  if (looksLikeId(idOrName)) return idOrName;
  const found = await client.stream<Fn>('functions', 'query', { query: { name: idOrName } });
  if (found.length === 0) throw new ValidationError(`no function named "${idOrName}" (functions list shows yours)`);
  if (found.length > 1)
    throw new ValidationError(`several functions are named "${idOrName}" (you are an admin?); use the id: ${found.map((f) => String(f['id'])).join(', ')}`);
  return String(found[0]?.['id']);
}

function codeOption(opts: { file?: string; code?: string; wasm?: string }): { javascript: string } | { wasm: Buffer } | undefined {
  const given = [opts.file, opts.code, opts.wasm].filter((v) => v !== undefined).length;
  if (given > 1) throw new ValidationError('give one of --file, --code or --wasm');
  if (opts.file !== undefined) return { javascript: readTextFile(opts.file, '--file') };
  if (opts.code !== undefined) return { javascript: opts.code };
  if (opts.wasm !== undefined) return { wasm: readBinaryFile(opts.wasm, '--wasm') };
  return undefined;
}

function summary(fn: Fn): Record<string, unknown> {
  const code = typeof fn['javascript'] === 'string' ? (fn['javascript'] as string) : '';
  return {
    id: fn['id'],
    name: fn['name'],
    user: fn['user_id'],
    type: TYPES[Number(fn['function_type'])] ?? fn['function_type'],
    size: fn['func'] === 'wasm' ? `${(fn['wasm'] as Buffer | undefined)?.length ?? 0} B` : `${Buffer.byteLength(code)} B`,
    limits: `${String(fn['memory_mib'])} MiB, ${String(fn['timeout_ms'])} ms`,
  };
}

function forJson(fn: Fn): Fn {
  const { wasm, func, ...rest } = fn;
  return func === 'wasm' ? { ...rest, wasm: Buffer.isBuffer(wasm) ? wasm.toString('base64') : wasm } : rest;
}

const COLUMNS = ['id', 'name', 'user', 'type', 'size', 'limits'];

export function registerFunctionsCommand(program: Command): void {
  const functions = program.command('functions').description('Create, inspect, change, test and delete functions through the control plane (gRPC)');

  connectionOptions(
    functions
      .command('create <name>')
      .description('Create a function from JavaScript or an Extism WebAssembly module (checked first: JavaScript errors show line and column)')
      .option('--file <path>', 'JavaScript file (an ES module with `export default function handle(events, ctx)`)')
      .option('--code <source>', 'the JavaScript source inline')
      .option('--wasm <path>', 'an Extism plugin module (.wasm, exporting handle) instead; at most 8 MiB')
      .option('--memory-mib <n>', 'memory limit per VM (default 32)')
      .option('--timeout-ms <n>', 'time limit per call (default 1000)'),
  ).action(async (name: string, opts: ConnectionOptions & { file?: string; code?: string; wasm?: string; memoryMib?: string; timeoutMs?: string }) => {
    const code = codeOption(opts);
    if (!code) throw new ValidationError('give the code: --file <path>, --code <source> or --wasm <module.wasm>');
    const fn = {
      name,
      function_type: 'wasm' in code ? 1 : 2,
      ...code,
      memory_mib: positiveInt(opts.memoryMib, '--memory-mib') ?? 0,
      timeout_ms: positiveInt(opts.timeoutMs, '--timeout-ms') ?? 0,
    };
    const reply = await withClient(opts, (c) => c.call<{ function: Fn }>('functions', 'create', { function: fn }));
    if (opts.json) printJson(forJson(reply.function));
    else console.log(`created function "${String(reply.function['name'])}" ${String(reply.function['id'])}`);
  });

  connectionOptions(
    functions
      .command('list')
      .description("List your functions (admins: everyone's)")
      .option('--user <id>', "only this user's (admins)")
      .option('--name <name>', 'only functions with this name'),
  ).action(async (opts: ConnectionOptions & { user?: string; name?: string }) => {
    const items = await withClient(opts, (c) => c.stream<Fn>('functions', 'query', { query: { user_id: opts.user ?? '', name: opts.name ?? '' } }));
    if (opts.json) printJson(items.map(forJson));
    else if (items.length === 0) console.log('no functions');
    else printTable(items.map(summary), COLUMNS);
  });

  connectionOptions(functions.command('get <function>').description('Show a function (by id or name) and its code')).action(
    async (ref: string, opts: ConnectionOptions) => {
      const fn = await withClient(opts, async (c) => (await c.call<{ function: Fn }>('functions', 'get', { id: await resolveFunctionId(c, ref) })).function);
      if (opts.json) return printJson(forJson(fn));
      printTable([summary(fn)], COLUMNS);
      if (typeof fn['javascript'] === 'string') console.log(`\n${fn['javascript'] as string}`);
    },
  );

  connectionOptions(
    functions
      .command('update <function>')
      .description("Replace a function's code or limits; triggers using it restart with the new code within seconds")
      .option('--file <path>', 'new JavaScript file')
      .option('--code <source>', 'new JavaScript source inline')
      .option('--wasm <path>', 'new WebAssembly module')
      .option('--memory-mib <n>', 'new memory limit')
      .option('--timeout-ms <n>', 'new time limit'),
  ).action(async (ref: string, opts: ConnectionOptions & { file?: string; code?: string; wasm?: string; memoryMib?: string; timeoutMs?: string }) => {
    const code = codeOption(opts);
    const fn = await withClient(opts, async (c) => {
      const request = {
        id: await resolveFunctionId(c, ref),
        ...(code ?? {}),
        memory_mib: positiveInt(opts.memoryMib, '--memory-mib') ?? 0,
        timeout_ms: positiveInt(opts.timeoutMs, '--timeout-ms') ?? 0,
      };
      return (await c.call<{ function: Fn }>('functions', 'update', request)).function;
    });
    if (opts.json) printJson(forJson(fn));
    else console.log(`updated function "${String(fn['name'])}" ${String(fn['id'])}`);
  });

  connectionOptions(functions.command('delete <function>').description('Delete a function (refused while a trigger uses it)')).action(
    async (ref: string, opts: ConnectionOptions) => {
      const fn = await withClient(opts, async (c) => (await c.call<{ function: Fn }>('functions', 'delete', { id: await resolveFunctionId(c, ref) })).function);
      if (opts.json) printJson(forJson(fn));
      else console.log(`deleted function "${String(fn['name'])}" ${String(fn['id'])}`);
    },
  );

  connectionOptions(
    functions
      .command('test [function]')
      .description('Run a function (by id or name, or --file/--code not saved yet) on sample events and print the actions it returns')
      .option('--events <path>', 'JSON file with an array of change events')
      .option('--events-json <json>', 'the events inline, e.g. \'[{"op":"insert","documentKey":{"_id":1},"fullDocument":{"_id":1}}]\'')
      .option('--file <path>', 'test this JavaScript file instead of a saved function')
      .option('--code <source>', 'test this JavaScript source instead of a saved function')
      .option('--wasm <path>', 'test this Extism plugin module (.wasm) instead of a saved function')
      .option('--sink <name>', 'a sink name the actions may address (repeatable; default any)', collect),
  ).action(
    async (
      ref: string | undefined,
      opts: ConnectionOptions & { events?: string; eventsJson?: string; file?: string; code?: string; wasm?: string; sink?: string[] },
    ) => {
      const eventsText = opts.events !== undefined ? readTextFile(opts.events, '--events') : (opts.eventsJson ?? '[]');
      if (!Array.isArray(parseJsonOption(eventsText, opts.events ? '--events' : '--events-json', '[{"op":"insert","fullDocument":{"_id":1}}]'))) {
        throw new ValidationError('the events must be a JSON array');
      }
      const code = codeOption({
        ...(opts.file !== undefined ? { file: opts.file } : {}),
        ...(opts.code !== undefined ? { code: opts.code } : {}),
        ...(opts.wasm !== undefined ? { wasm: opts.wasm } : {}),
      });
      if (!ref && !code) throw new ValidationError('name a function, or give --file / --code / --wasm to test unsaved code');
      const reply = await withClient(opts, async (c) => {
        const request = {
          id: ref && !code ? await resolveFunctionId(c, ref) : '',
          events_json: eventsText,
          javascript: code && 'javascript' in code ? code.javascript : '',
          ...(code && 'wasm' in code ? { wasm: code.wasm } : {}),
          sink_names: opts.sink ?? [],
        };
        return c.call<Record<string, unknown>>('functions', 'execute', request);
      });
      const actions: unknown = reply['actions_json'] ? JSON.parse(String(reply['actions_json'])) : null;
      if (opts.json)
        printJson({
          actions,
          logs: reply['logs'],
          error: reply['error'] || null,
          errorKind: reply['error_kind'] || null,
          line: reply['line'] || null,
          column: reply['column'] || null,
        });
      else {
        for (const line of (reply['logs'] as string[] | undefined) ?? []) console.log(`log ${line}`);
        if (reply['error']) console.log(`error (${String(reply['error_kind'])}): ${String(reply['error'])}`);
        else console.log(JSON.stringify(actions, null, 2));
      }
      if (reply['error']) process.exitCode = 1;
    },
  );
}
