import type { HealthOwner } from '../core/health.js';
import { matchProblem } from '../processors/match-filter.js';
import type { TriggerDefinition } from '../processors/trigger-definition.js';
import { DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT_MS } from './function-messages.js';
import { FUNCTION_TYPE, OPERATION_NAMES, TRIGGER_TYPE, type FunctionDoc, type TriggerDoc } from './documents.js';
import type { RunPlan } from './tenant-policy.js';
import { triggerKey } from './trigger-key.js';

/**
 * Why a stored trigger cannot run here (it is then not applied, or stopped, and the reason logged).
 * `inert`: nothing is wrong with it, there is just nothing to run (AUTHENTICATION triggers); it is
 * then not shown as failed in health.
 */
export type NotRunnable = { reason: string; inert?: true };

export interface DefinitionOptions {
  /** Topic a SCHEDULED trigger consumes (the scheduler writes one tick event there per firing). */
  scheduleTopic: (key: string) => string;
  /** What the owner's rules let the trigger read and write (control/tenant-policy.ts); absent = as stored. */
  plan?: (doc: TriggerDoc) => RunPlan | NotRunnable;
  /** Who answers for a user's trigger in health (admins: the instance, others: `tenant:<user>`); absent = not set. */
  ownerOf?: (userId: string) => HealthOwner;
}

const DEFAULT_BATCH = { maxSize: 500, maxWaitMs: 100 };
const DEFAULT_RETRY = { attempts: 5, initialDelayMs: 200, maxDelayMs: 10_000 };

/**
 * A stored trigger (and its function) as the processors run it. Pure: the same documents always
 * give the same definition, so the reconciler can compare definitions to know what changed.
 */
export function toDefinition(doc: TriggerDoc, fn: FunctionDoc | undefined, options: DefinitionOptions): TriggerDefinition | NotRunnable {
  const key = triggerKey(doc);
  const plan = options.plan?.(doc);
  if (plan && 'reason' in plan) return plan;
  let source: TriggerDefinition['source'];
  let operationTypes: string[] | undefined;
  let match: Record<string, unknown> | undefined;
  let ordering: 'ordered' | 'unordered' = 'ordered';
  if (doc.trigger_type === TRIGGER_TYPE.DATABASE && doc.config.database) {
    const db = doc.config.database;
    source = plan?.source ?? (db.topic ? { topic: db.topic } : db.collection ? { db: db.database, coll: db.collection } : { db: db.database });
    const ops = db.operation_types.map((op) => OPERATION_NAMES[op]).filter((op): op is string => op !== undefined);
    operationTypes = ops.length > 0 ? ops : undefined;
    if (db.match) {
      try {
        match = JSON.parse(db.match) as Record<string, unknown>;
      } catch {
        return { reason: `config.database.match is not valid JSON` };
      }
      const problem = matchProblem(match, 'config.database.match');
      if (problem) return { reason: problem };
    }
    if (db.unordered) ordering = 'unordered';
  } else if (doc.trigger_type === TRIGGER_TYPE.SCHEDULED && doc.config.scheduled) {
    source = { topic: options.scheduleTopic(key) };
  } else if (doc.trigger_type === TRIGGER_TYPE.AUTHENTICATION) {
    return { reason: 'AUTHENTICATION triggers are stored but have no event source in changeflow', inert: true };
  } else {
    return { reason: `trigger_type ${doc.trigger_type} with config ${Object.keys(doc.config).join(',') || 'none'} cannot run` };
  }

  let functionCode: TriggerDefinition['functionCode'];
  if (doc.function_id !== '') {
    if (!fn) return { reason: `its function ${doc.function_id} does not exist` };
    const limits = { memoryMiB: fn.memory_mib ?? DEFAULT_MEMORY_MIB, timeoutMs: fn.timeout_ms ?? DEFAULT_TIMEOUT_MS };
    if (fn.function_type === FUNCTION_TYPE.WASM && fn.func.wasm !== undefined) {
      functionCode = { name: fn.name, wasmBase64: Buffer.from(fn.func.wasm.buffer.subarray(0, fn.func.wasm.length())).toString('base64'), ...limits };
    } else if (fn.function_type === FUNCTION_TYPE.JAVASCRIPT && fn.func.javascript !== undefined) {
      functionCode = { name: fn.name, code: fn.func.javascript, ...limits };
    } else return { reason: `its function "${fn.name}" has no code of its type ${fn.function_type}` };
  }

  return {
    key,
    userId: doc.user_id,
    ...(options.ownerOf ? { owner: options.ownerOf(doc.user_id) } : {}),
    name: doc.name,
    source,
    ...(operationTypes ? { operationTypes } : {}),
    ...(match ? { match } : {}),
    ...(functionCode ? { function: functionCode.name, functionCode } : {}),
    sinks: (plan?.sinks ?? doc.sinks).map((s) => ({ ...s.options, name: s.name, kind: s.kind })),
    batch: doc.batch
      ? { maxSize: doc.batch.max_size || DEFAULT_BATCH.maxSize, maxWaitMs: doc.batch.max_wait_ms || DEFAULT_BATCH.maxWaitMs }
      : { ...DEFAULT_BATCH },
    ordering,
    retry: { ...DEFAULT_RETRY },
    enabled: doc.enabled,
  };
}

export function isRunnable(value: TriggerDefinition | NotRunnable): value is TriggerDefinition {
  return 'key' in value;
}
