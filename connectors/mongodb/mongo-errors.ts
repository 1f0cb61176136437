/** Sorting MongoDB server errors into what the source does about them. */

interface ServerErrorShape {
  code?: number;
  codeName?: unknown;
  message?: unknown;
}

/**
 * The source's clients read with `promoteValues: false` (EJSON fidelity), so a server error's `code`
 * arrives as a BSON Int32 object, not a number: compare its numeric value.
 */
function numericCode(code: unknown): number | undefined {
  if (typeof code === 'number') return code;
  if (typeof code === 'object' && code !== null && typeof (code as { valueOf?: unknown }).valueOf === 'function') {
    const value: unknown = (code as { valueOf(): unknown }).valueOf();
    if (typeof value === 'number') return value;
  }
  return undefined;
}

function shape(error: unknown): ServerErrorShape {
  if (typeof error !== 'object' || error === null) return {};
  const { code, codeName, message } = error as { code?: unknown; codeName?: unknown; message?: unknown };
  const numeric = numericCode(code);
  return { ...(numeric === undefined ? {} : { code: numeric }), codeName, message };
}

/** The oplog no longer holds the stored resume point (ChangeStreamHistoryLost 286, ChangeStreamFatalError 280). */
export function isHistoryLost(error: unknown): boolean {
  const { code, codeName, message } = shape(error);
  if (code === 286 || code === 280 || codeName === 'ChangeStreamHistoryLost') return true;
  return typeof message === 'string' && /resume (point|token) (may no longer be in the oplog|was not found)/i.test(message);
}

/** The server cannot run change streams at all: a standalone server rather than a replica set or sharded cluster. */
export function isNotReplicaSet(error: unknown): boolean {
  const { code, message } = shape(error);
  if (code === 40573 || code === 40324) return true;
  return typeof message === 'string' && /only supported on replica sets|Unrecognized pipeline stage name: '\$changeStream'/i.test(message);
}

/** The server does not know the command used to open the stream (mongo-java-server for whole-cluster watches). */
export function isUnsupportedCommand(error: unknown): boolean {
  const { code } = shape(error);
  return code === 59 || code === 115;
}

/** Network trouble, elections, shutdowns: worth another attempt after a pause. */
export function isTransientMongoError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const name = (error as { name?: unknown }).name;
  if (typeof name === 'string' && /MongoNetwork|MongoServerSelection|MongoNotConnected|MongoTopologyClosed|PoolCleared/i.test(name)) return true;
  const labels = (error as { errorLabels?: unknown }).errorLabels;
  // Labels only add to the code list below: most server errors carry an empty label set.
  const labelList: unknown[] = labels instanceof Set ? [...(labels as Set<unknown>)] : Array.isArray(labels) ? labels : [];
  if (labelList.some((label) => label === 'ResumableChangeStreamError' || label === 'RetryableWriteError' || label === 'TransientTransactionError')) return true;
  const { code } = shape(error);
  // NotWritablePrimary, NotPrimaryOrSecondary, InterruptedAtShutdown, HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress, PrimarySteppedDown
  return code !== undefined && [6, 7, 89, 91, 189, 10107, 11600, 11602, 13435, 13436].includes(code);
}
