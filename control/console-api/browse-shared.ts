import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { fromZodError } from '../api-error.js';
import type { Principal } from '../auth.js';

/** routes.ts's wrapper: authenticates the bearer token, answers errors through http-errors.ts. */
export type ConsoleRoute = (
  handler: (principal: Principal, request: FastifyRequest) => Promise<unknown>,
) => (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** Validates a request part, answering 400 naming `root.field` when it does not fit. */
export function parseAt<S extends z.ZodType>(schema: S, value: unknown, root: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw fromZodError(result.error, root);
  return result.data;
}
