import { MongoBulkWriteError, MongoError, MongoServerError } from 'mongodb';
import { ChangeflowError, UnavailableError, errorMessage, isRetriable } from '../core/errors.js';
import { isOperatorError, isTransientMongoError, isTransientWriteCode } from '../core/mongo-errors.js';

/* What a MongoDB-backed sink does with a failure; the error classes and codes are core/mongo-errors.ts's. */

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

/**
 * Whether a failure reaching or writing to a MongoDB target may pass by itself: network trouble, no
 * server to select, a closed client (the sink replaces it), timeouts, elections, write concern.
 * Anything else (a value the driver cannot encode, a document too large, a refused command) will fail
 * the same way every time: the records are at fault, and retrying them forever would stall the partition.
 */
export function isTransientTargetError(error: unknown): boolean {
  if (error instanceof ChangeflowError) return isRetriable(error);
  if (error instanceof MongoBulkWriteError) return error.writeConcernError !== undefined || permanentWriteFailures(error) === undefined;
  // Not the records' fault either: credentials or rights an operator must fix. Batches wait (health says
  // why) rather than sending every event to the dead-letter topic.
  return isTransientMongoError(error) || isOperatorError(error);
}

/** A failure of the whole batch that no retry will cure; the processor retries per policy, then bisects to dead-letter the culprit. */
export function targetRefused(what: string, error: unknown): ChangeflowError {
  const code = error instanceof MongoServerError ? ` (code ${String(error.code ?? '?')})` : '';
  return new ChangeflowError(`${what}: ${errorMessage(error)}${code}`, { cause: error, retriable: false, code: 'SINK_WRITE_REFUSED' });
}
