import {
  MongoBulkWriteError,
  MongoClientClosedError,
  MongoError,
  MongoErrorLabel,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
} from 'mongodb';
import { ChangeflowError, UnavailableError, errorMessage, isRetriable } from '../core/errors.js';

/**
 * Server error codes that mean "not now" rather than "never": elections, shutdowns, timeouts,
 * network trouble. Any other write error is the document's own fault (duplicate key, validation).
 */
const TRANSIENT_CODES = new Set([6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 64, 112, 251]);

export function isTransientWriteCode(code: unknown): boolean {
  return typeof code === 'number' && TRANSIENT_CODES.has(code);
}

export interface WriteFailure {
  /** Index into the ops of the bulkWrite. */
  index: number;
  code: number | undefined;
  message: string;
}

/**
 * Splits a bulkWrite failure into per-op refusals. Returns undefined when the error is not about
 * individual documents (target down, write concern failed, transient codes): the caller then treats
 * the whole batch as not written and lets the processor retry.
 */
export function permanentWriteFailures(error: unknown): WriteFailure[] | undefined {
  if (!(error instanceof MongoBulkWriteError)) return undefined;
  if (error.writeConcernError) return undefined;
  const raw = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
  if (raw.length === 0) return undefined;
  const failures = raw.map((w) => ({
    index: w.index,
    code: typeof w.code === 'number' ? w.code : undefined,
    message: w.errmsg ?? `write error ${String(w.code)}`,
  }));
  if (failures.some((f) => isTransientWriteCode(f.code))) return undefined;
  return failures;
}

/** Wraps an error reaching a MongoDB target into a retriable UnavailableError that names the target. */
export function targetUnavailable(what: string, error: unknown): UnavailableError {
  const code = error instanceof MongoServerError || error instanceof MongoError ? ` (code ${String(error.code ?? '?')})` : '';
  return new UnavailableError(`${what}: ${errorMessage(error)}${code}`, { cause: error });
}

/** A duplicate key on `_id` for an insert means the document is already there: a repeat, not a failure. */
export function isDuplicateIdError(failure: WriteFailure): boolean {
  return failure.code === 11000 && /index: _id_/.test(failure.message);
}

/** The client can never be used again (`Topology is closed`): the sink must make a new one. */
export function isClosedClientError(error: unknown): boolean {
  return error instanceof MongoTopologyClosedError || error instanceof MongoClientClosedError || error instanceof MongoNotConnectedError;
}

/**
 * Whether a failure reaching or writing to a MongoDB target may pass by itself: network trouble, no
 * server to select, a closed client (the sink replaces it), timeouts, elections, write concern.
 * Anything else (a value the driver cannot encode, a document too large, a refused command) will fail
 * the same way every time: the records are at fault, and retrying them forever would stall the partition.
 */
export function isTransientMongoError(error: unknown): boolean {
  if (error instanceof ChangeflowError) return isRetriable(error);
  if (isClosedClientError(error)) return true;
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError || error instanceof MongoOperationTimeoutError) return true;
  if (error instanceof MongoWriteConcernError) return true;
  if (error instanceof MongoBulkWriteError) return error.writeConcernError !== undefined || permanentWriteFailures(error) === undefined;
  if (error instanceof MongoError) {
    const labels = [MongoErrorLabel.RetryableWriteError, MongoErrorLabel.TransientTransactionError, MongoErrorLabel.ResetPool, MongoErrorLabel.PoolRequestedRetry];
    if (labels.some((label) => error.hasErrorLabel(label))) return true;
  }
  // Not the records' fault either: credentials or rights an operator must fix. Batches wait (health says
  // why) rather than sending every event to the dead-letter topic.
  if (error instanceof MongoServerError && OPERATOR_CODES.has(Number(error.code))) return true;
  return error instanceof MongoServerError && isTransientWriteCode(error.code);
}

/** Unauthorized, AuthenticationFailed. */
const OPERATOR_CODES = new Set([13, 18]);

/** A failure of the whole batch that no retry will cure; the processor retries per policy, then bisects to dead-letter the culprit. */
export function targetRefused(what: string, error: unknown): ChangeflowError {
  const code = error instanceof MongoServerError ? ` (code ${String(error.code ?? '?')})` : '';
  return new ChangeflowError(`${what}: ${errorMessage(error)}${code}`, { cause: error, retriable: false, code: 'SINK_WRITE_REFUSED' });
}
