import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { applyEnvOverrides, coreConfigShape, duplicateTokens, type Env } from '../core/config.js';
import { ValidationError } from '../core/errors.js';
import { parseOrThrow } from '../core/schema-errors.js';
import { eventSyncConfigSchema } from '../connectors/eventsync/config.js';
import { sourceEntrySchema } from '../connectors/registry.js';
import { functionConfigSchema, type FunctionConfig } from '../processors/function-config.js';
import { checkWasmModule } from '../processors/sandbox/index.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import { checkTriggerSinks } from '../processors/trigger-sinks.js';
import { sinkKinds } from '../sinks/registry.js';
import { TopicNames } from '../core/topics.js';
import { viewConfigSchema } from '../processors/views/view-config.js';
import { viewTopics } from '../processors/views/view-source.js';

/** The service's whole config: the core sections, then each component's. */
export const configSchema = z.strictObject({
  ...coreConfigShape,
  sources: z.array(sourceEntrySchema).default([]),
  functions: z.array(functionConfigSchema).default([]),
  triggers: z.array(triggerConfigSchema).default([]),
  eventsync: z.array(eventSyncConfigSchema).default([]),
  views: z.array(viewConfigSchema).default([]),
});

/** The config as users write it (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The config with every default applied and validated: what the rest of the code receives. */
export type Config = z.output<typeof configSchema>;

/** Checks what one schema cannot: names unique, triggers naming functions that exist, sink entries valid for their kind, tokens unique. */
function crossCheck(config: Config): string[] {
  const problems: string[] = [];
  const unique = (items: { name: string }[], key: string): void => {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const first = seen.get(item.name);
      if (first !== undefined) problems.push(`${key}[${i}].name: "${item.name}" is already used by ${key}[${first}]; names must be unique`);
      else seen.set(item.name, i);
    });
  };
  unique(config.sources, 'sources');
  unique(config.functions, 'functions');
  unique(config.triggers, 'triggers');
  unique(config.views, 'views');
  problems.push(...duplicateTokens(config.auth.tokens));
  config.sources.forEach((s, i) => {
    if (s.format === 'avro' && !config.kafka.schemaRegistry) {
      problems.push(
        `sources[${i}].format: avro needs a Confluent-compatible schema registry; set kafka.schemaRegistry.url (or SCHEMA_REGISTRY_URL), or use format: json`,
      );
    }
  });
  const functions = new Set(config.functions.map((f) => f.name));
  config.triggers.forEach((t, i) => {
    if (t.function && !functions.has(t.function)) {
      problems.push(`triggers[${i}].function: no function named "${t.function}"; define it under functions (known: ${[...functions].join(', ') || 'none'})`);
    }
    // Each sink entry against its kind's schema, here at load rather than when the processor starts it.
    problems.push(...checkTriggerSinks(t.sinks, sinkKinds, `triggers[${i}]`).problems);
    const sinkNames = new Set<string>();
    t.sinks.forEach((s, j) => {
      if (sinkNames.has(s.name)) problems.push(`triggers[${i}].sinks[${j}].name: "${s.name}" is used twice in this trigger`);
      sinkNames.add(s.name);
    });
  });
  const topics = new TopicNames(config.kafka.topicPrefix);
  config.views.forEach((v, i) => {
    const found = viewTopics(v, config.sources, topics);
    if ('problem' in found) problems.push(`views[${i}].source: ${found.problem}`);
  });
  return problems;
}

/** Validates a parsed config object (from YAML, JSON or code) and applies defaults and environment overrides. */
export function compileConfig(raw: unknown, env: Env = process.env, baseDir = process.cwd()): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ValidationError('changeflow.yaml is not valid:\n  - (root): expected a mapping of top-level keys (kafka, mongodb, sources, triggers, …)', {
      code: 'CONFIG_INVALID',
    });
  }
  const config = parseOrThrow(configSchema, applyEnvOverrides(raw as Record<string, unknown>, env), 'changeflow.yaml');
  const problems = crossCheck(config);
  if (problems.length > 0) throw new ValidationError(`changeflow.yaml is not valid:\n  - ${problems.join('\n  - ')}`, { code: 'CONFIG_INVALID' });
  for (const fn of config.functions as FunctionConfig[]) {
    if (fn.wasm !== undefined) fn.wasmBytes = readWasmModule(fn, config.functions.indexOf(fn), baseDir);
    if (fn.file !== undefined) {
      const path = resolve(baseDir, fn.file);
      try {
        fn.code = readFileSync(path, 'utf8');
      } catch (error) {
        throw new ValidationError(`functions[${config.functions.indexOf(fn)}].file: cannot read ${path} (${(error as Error).message})`, {
          code: 'CONFIG_INVALID',
          cause: error,
        });
      }
    }
  }
  return config;
}

/** The module at `functions[i].wasm` (relative to the config file), refused here if it could never run. */
function readWasmModule(fn: FunctionConfig, index: number, baseDir: string): Uint8Array {
  const path = resolve(baseDir, fn.wasm ?? '');
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new ValidationError(`functions[${index}].wasm: cannot read ${path} (${(error as Error).message})`, { code: 'CONFIG_INVALID', cause: error });
  }
  const checked = checkWasmModule(bytes, Math.round(fn.limits.memoryMiB * 1024 * 1024));
  if (!checked.ok) throw new ValidationError(`functions[${index}].wasm: ${path}: ${checked.message}`, { code: 'CONFIG_INVALID' });
  return bytes;
}

export function parseConfigText(text: string, env: Env = process.env, baseDir = process.cwd(), fileName = 'changeflow.yaml'): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new ValidationError(`${fileName} is not valid YAML: ${first?.message ?? 'parse error'}`, { code: 'CONFIG_INVALID' });
  }
  return compileConfig(doc.toJS() ?? {}, env, baseDir);
}

export function loadConfigFile(path: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ValidationError(`cannot read config file ${path}: ${(error as Error).message}`, { code: 'CONFIG_NOT_FOUND', cause: error });
  }
  return parseConfigText(text, env, dirname(resolve(path)), path);
}
