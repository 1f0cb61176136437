import { status, type ServiceError } from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { z } from 'zod';
import { ChangeflowError, UnavailableError, errorMessage } from '../core/errors.js';
import { formatPath } from '../core/schema-errors.js';
import { isConnectivityError, isDuplicateKeyError } from '../core/mongo-errors.js';

/** A request the API refuses, with the gRPC status code the caller gets. */
export class ApiError extends ChangeflowError {
  constructor(
    readonly status: status,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, { ...options, retriable: status === 14, code: `GRPC_${status}` });
  }
}

export const invalidArgument = (message: string): ApiError => new ApiError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string): ApiError => new ApiError(status.NOT_FOUND, message);
export const failedPrecondition = (message: string): ApiError => new ApiError(status.FAILED_PRECONDITION, message);
export const permissionDenied = (message: string): ApiError => new ApiError(status.PERMISSION_DENIED, message);
export const unauthenticated = (message: string): ApiError => new ApiError(status.UNAUTHENTICATED, message);

/** zod problems as one INVALID_ARGUMENT message naming each field, e.g. `trigger.name: must be ...`. */
export function fromZodError(error: z.ZodError, root = ''): ApiError {
  const lines = error.issues.map((issue) => `${formatPath(issue.path as PropertyKey[], root)}: ${issue.message}`);
  return invalidArgument(lines.join('; '));
}

/** Any error thrown by a handler, as the ServiceError grpc-js sends back. Unknown errors hide their details. */
export function toServiceError(error: unknown): Partial<ServiceError> & { code: status; details: string } {
  let code: status;
  let details: string;
  if (error instanceof ApiError) [code, details] = [error.status, error.message];
  else if (error instanceof z.ZodError) [code, details] = [status.INVALID_ARGUMENT, fromZodError(error).message];
  else if (isDuplicateKeyError(error))
    [code, details] = [status.ALREADY_EXISTS, 'an object with this name already exists for this user; names are unique per user'];
  else if (error instanceof UnavailableError || isConnectivityError(error))
    [code, details] = [status.UNAVAILABLE, `metadata store unavailable: ${errorMessage(error)}`];
  else [code, details] = [status.INTERNAL, 'internal error (see the server log)'];
  return { code, details, message: details, metadata: new Metadata(), name: 'ServiceError' };
}
