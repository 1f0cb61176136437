import {
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

/**
 * The one place MongoDB errors are sorted: by the driver's error classes and labels first, by
 * server codes where the driver gives no class. Sources, sinks and the control plane each decide
 * what to do, but from the same answers.
 */
const codes = {
  /** Elections, shutdowns, timeouts, network trouble, write conflicts: "not now" rather than "never". */
  transient: new Set([6, 7, 50, 64, 89, 91, 112, 189, 251, 262, 9001, 10107, 11600, 11602, 13435, 13436]),
  /** After these a change stream resumes where it was: the driver's resumable list, plus CursorNotFound (43). */
  resumableStream: new Set([43, 63, 133, 150, 234, 262, 9001, 13388]),
  /** ChangeStreamFatalError, ChangeStreamHistoryLost: the oplog no longer holds the resume point. */
  historyLost: new Set([280, 286]),
  /** The $changeStream stage is refused: a standalone server. */
  notReplicaSet: new Set([40573, 40324]),
  /** CommandNotFound, OperationNotSupported (mongo-java-server for whole-cluster watches). */
  unsupportedCommand: new Set([59, 115]),
  /** Unauthorized, AuthenticationFailed: credentials or rights an operator must fix. */
  operator: new Set([13, 18]),
  duplicateKey: 11000,
} as const;

/**
 * A server error's code as a number. Clients that read with `promoteValues: false` (the source,
 * for Extended JSON fidelity) get it as a BSON Int32 object.
 */
export function serverCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code: unknown = (error as { code?: unknown }).code;
  if (typeof code === 'number') return code;
  if (typeof code === 'object' && code !== null && typeof (code as { valueOf?: unknown }).valueOf === 'function') {
    const value: unknown = (code as { valueOf(): unknown }).valueOf();
    if (typeof value === 'number') return value;
  }
  return undefined;
}

function messageOf(error: unknown): string {
  const message: unknown = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : '';
}

/** Whether the error came from the MongoDB driver or server. */
export function isMongoError(error: unknown): error is MongoError {
  return error instanceof MongoError;
}

/** The client can never be used again (`Topology is closed`): whoever owns it must make a new one. */
export function isClosedClientError(error: unknown): boolean {
  return error instanceof MongoTopologyClosedError || error instanceof MongoClientClosedError || error instanceof MongoNotConnectedError;
}

/** No server could be reached: network errors, no server to select, a closed client, a timeout. */
export function isConnectivityError(error: unknown): boolean {
  return (
    isClosedClientError(error) ||
    error instanceof MongoNetworkError ||
    error instanceof MongoServerSelectionError ||
    error instanceof MongoOperationTimeoutError
  );
}

const transientLabels = [
  MongoErrorLabel.RetryableWriteError,
  MongoErrorLabel.TransientTransactionError,
  MongoErrorLabel.ResetPool,
  MongoErrorLabel.PoolRequestedRetry,
  MongoErrorLabel.ResumableChangeStreamError,
];

/** Network trouble, elections, shutdowns, write concern: worth another attempt after a pause. */
export function isTransientMongoError(error: unknown): boolean {
  if (isConnectivityError(error) || error instanceof MongoWriteConcernError) return true;
  if (error instanceof MongoError && transientLabels.some((label) => error.hasErrorLabel(label))) return true;
  const code = serverCode(error);
  return error instanceof MongoError && code !== undefined && codes.transient.has(code);
}

/** Whether a change stream may reopen where it was after this error. */
export function isResumableStreamError(error: unknown): boolean {
  if (isTransientMongoError(error)) return true;
  if (!(error instanceof MongoServerError) || error.hasErrorLabel('NonResumableChangeStreamError')) return false;
  const code = serverCode(error);
  return code !== undefined && codes.resumableStream.has(code);
}

/** The oplog no longer holds the stored resume point. */
export function isHistoryLost(error: unknown): boolean {
  const code = serverCode(error);
  if ((code !== undefined && codes.historyLost.has(code)) || (error as { codeName?: unknown } | null)?.codeName === 'ChangeStreamHistoryLost') return true;
  return /resume (point|token) (may no longer be in the oplog|was not found)/i.test(messageOf(error));
}

/** The server cannot run change streams at all: a standalone server rather than a replica set or sharded cluster. */
export function isNotReplicaSet(error: unknown): boolean {
  const code = serverCode(error);
  if (code !== undefined && codes.notReplicaSet.has(code)) return true;
  return /only supported on replica sets|Unrecognized pipeline stage name: '\$changeStream'/i.test(messageOf(error));
}

/** The server does not know the command (mongo-java-server for whole-cluster watches). */
export function isUnsupportedCommand(error: unknown): boolean {
  const code = serverCode(error);
  return code !== undefined && codes.unsupportedCommand.has(code);
}

/** Credentials or rights are wrong: not the data's fault, and no retry fixes it until an operator does. */
export function isOperatorError(error: unknown): boolean {
  const code = serverCode(error);
  return error instanceof MongoServerError && code !== undefined && codes.operator.has(code);
}

/** A unique index refused the write (E11000). */
export function isDuplicateKeyError(error: unknown): boolean {
  return serverCode(error) === codes.duplicateKey;
}

/** A per-document write error code that means "not now" (inside a bulk write's writeErrors). */
export function isTransientWriteCode(code: unknown): boolean {
  return typeof code === 'number' && codes.transient.has(code);
}
