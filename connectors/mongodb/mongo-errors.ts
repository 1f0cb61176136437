/** Sorting MongoDB server errors into what the source does about them. */

interface ServerErrorShape {
  code?: unknown;
  codeName?: unknown;
  message?: unknown;
}

function shape(error: unknown): ServerErrorShape {
  return typeof error === 'object' && error !== null ? (error as ServerErrorShape) : {};
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
  if (labels instanceof Set) return labels.has('ResumableChangeStreamError') || labels.has('RetryableWriteError') || labels.has('TransientTransactionError');
  if (Array.isArray(labels)) return labels.includes('ResumableChangeStreamError') || labels.includes('RetryableWriteError');
  const { code } = shape(error);
  // NotWritablePrimary, NotPrimaryOrSecondary, InterruptedAtShutdown, HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress, PrimarySteppedDown
  return typeof code === 'number' && [6, 7, 89, 91, 189, 10107, 11600, 11602, 13435, 13436].includes(code);
}
