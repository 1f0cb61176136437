import { z } from 'zod';
import type { DeadLetterView } from './dead-letter-reader.js';

/**
 * Which dead letters a list shows or "redrive matching" sends back: by error kind (exactly, e.g.
 * `function:runtime`), by text found in the error message, the key or the event, and whether ones
 * already redriven count. Every given condition must hold; none given matches every letter.
 */
export const deadLetterFilterSchema = z.strictObject({
  errorKind: z
    .string()
    .regex(/^[a-z][a-z_-]*(:[a-z_-]+)?$/, { error: 'an error kind as the list shows it, e.g. "function:runtime", "decode" or "sink-rejected"' })
    .optional(),
  contains: z.string().min(1).max(500, { error: 'at most 500 characters' }).optional(),
  /** With "redrive matching" the default is false: a letter "redrive all" already sent back is left alone. */
  includeRedriven: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).optional(),
});
export type DeadLetterFilter = z.output<typeof deadLetterFilterSchema>;

export function isFiltering(filter: DeadLetterFilter): boolean {
  return filter.errorKind !== undefined || filter.contains !== undefined;
}

export function matchesDeadLetter(letter: DeadLetterView, filter: DeadLetterFilter, includeRedrivenByDefault: boolean): boolean {
  if (letter.redriven && !(filter.includeRedriven ?? includeRedrivenByDefault)) return false;
  if (filter.errorKind !== undefined && letter.errorKind !== filter.errorKind) return false;
  if (filter.contains === undefined) return true;
  const needle = filter.contains.toLowerCase();
  const haystacks = [letter.error, letter.key ?? '', typeof letter.event === 'string' ? letter.event : JSON.stringify(letter.event)];
  return haystacks.some((text) => text.toLowerCase().includes(needle));
}
