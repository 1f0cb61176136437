import { z } from 'zod';
import { InvalidActionsError } from './errors.js';

const nonEmpty = (what: string) => z.string({ error: `${what} must be a non-empty string` }).min(1, `${what} must be a non-empty string`);

/**
 * One action addressed to a sink. Extra fields pass through untouched: each sink validates its own ops
 * and arguments; here we only check what routing needs plus the shape of the common optional fields.
 */
export const actionSchema = z.looseObject(
  {
    sink: nonEmpty('sink'),
    op: nonEmpty('op'),
    key: z.string({ error: 'key must be a string' }).optional(),
    value: z.unknown().optional(),
    ttlSeconds: z.number({ error: 'ttlSeconds must be a number' }).positive('ttlSeconds must be > 0').finite('ttlSeconds must be finite').optional(),
  },
  { error: 'must be an object like { sink, op, ... }' },
);

export type Action = z.infer<typeof actionSchema>;

const actionsSchema = z.array(actionSchema, { error: 'must be an array of actions' });

function pathOf(path: readonly PropertyKey[]): string {
  let out = 'actions';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `.${String(part)}`;
  return out;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/**
 * Checks a function's result. Throws InvalidActionsError whose message names each bad field, e.g.
 * `actions[3].sink: unknown sink "cach"; this trigger has sinks: cache, audit`.
 */
/** The common action without zod (hot path); false sends the whole result through the schema. */
function isPlainAction(a: unknown): a is Action {
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return false;
  const { sink, op, key, ttlSeconds } = a as Record<string, unknown>;
  return (
    typeof sink === 'string' &&
    sink.length > 0 &&
    typeof op === 'string' &&
    op.length > 0 &&
    (key === undefined || typeof key === 'string') &&
    (ttlSeconds === undefined || (typeof ttlSeconds === 'number' && ttlSeconds > 0 && Number.isFinite(ttlSeconds)))
  );
}

export function validateActions(raw: unknown, sinkNames?: readonly string[]): Action[] {
  const parsed = Array.isArray(raw) && raw.every(isPlainAction) ? { success: true as const, data: raw } : actionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const at = pathOf(issue.path);
      if (issue.path.length === 0) return `${at} ${issue.message}, got ${kindOf(raw)}`;
      if (issue.path.length === 1 && issue.code === 'invalid_type') {
        const element = Array.isArray(raw) ? (raw as unknown[])[issue.path[0] as number] : undefined;
        return `${at}: ${issue.message}, got ${kindOf(element)}`;
      }
      return `${at}: ${issue.message}`;
    });
    throw new InvalidActionsError(issues);
  }
  if (sinkNames !== undefined) {
    const known = new Set(sinkNames);
    const issues: string[] = [];
    parsed.data.forEach((action, index) => {
      if (!known.has(action.sink)) {
        const list = sinkNames.length > 0 ? sinkNames.join(', ') : '(none)';
        issues.push(`actions[${index}].sink: unknown sink ${JSON.stringify(action.sink)}; this trigger has sinks: ${list}`);
      }
    });
    if (issues.length > 0) throw new InvalidActionsError(issues);
  }
  return parsed.data;
}
