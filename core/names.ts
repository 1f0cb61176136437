import { z } from 'zod';

/** The trigger API's rule (docs/design.md): at most 64 characters, ASCII letters, digits, underscores and hyphens. */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const nameSchema = z
  .string({ error: 'expected a name (a string)' })
  .regex(NAME_PATTERN, { error: 'must be 1–64 characters of ASCII letters, digits, "_" or "-"' });
