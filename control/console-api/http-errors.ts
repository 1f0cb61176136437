import { status } from '@grpc/grpc-js';
import { ChangeflowError } from '../../core/errors.js';
import { toServiceError } from '../api-error.js';

/** gRPC status codes of the control plane as HTTP statuses for the JSON API. */
const HTTP_OF: Partial<Record<status, number>> = {
  [status.INVALID_ARGUMENT]: 400,
  [status.UNAUTHENTICATED]: 401,
  [status.PERMISSION_DENIED]: 403,
  [status.NOT_FOUND]: 404,
  [status.ALREADY_EXISTS]: 409,
  [status.FAILED_PRECONDITION]: 409,
  [status.UNAVAILABLE]: 503,
};

/** What the JSON API answers for an error: the control plane's own message, under the HTTP status of its gRPC code. */
export function httpErrorOf(error: unknown): { statusCode: number; body: { error: string; code: string } } {
  if (error instanceof ChangeflowError && error.code.startsWith('DLQ_')) return { statusCode: 409, body: { error: error.message, code: error.code } };
  if (error instanceof ChangeflowError && error.retriable && !error.code.startsWith('GRPC_'))
    return { statusCode: 503, body: { error: error.message, code: error.code } };
  const serviceError = toServiceError(error);
  return { statusCode: HTTP_OF[serviceError.code] ?? 500, body: { error: serviceError.details, code: status[serviceError.code] ?? 'INTERNAL' } };
}
