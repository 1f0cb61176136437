import type { z } from 'zod';
import { ValidationError } from './errors.js';

/** `triggers[0].sinks[1].uri` from zod's path segments. */
export function formatPath(path: readonly PropertyKey[], root = ''): string {
  let out = root;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out || '(root)';
}

/** One line per problem, each naming the key path and what was expected. */
export function describeZodError(error: z.ZodError, root = ''): string[] {
  return error.issues.map((issue) => {
    const base = issue.path as PropertyKey[];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map((key) => `${formatPath([...base, key], root)}: unknown key (allowed keys are listed in docs/configuration.md; check the spelling)`)
        .join('\n');
    }
    return `${formatPath(base, root)}: ${issue.message}`;
  });
}

/** Parses `input` with `schema` or throws a ValidationError listing every problem by key path. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string, root = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const lines = describeZodError(result.error, root);
  throw new ValidationError(`${what} is not valid:\n  - ${lines.join('\n  - ')}`, { code: 'CONFIG_INVALID' });
}
