import type { AbstractCursor } from 'mongodb';

/** Marks a promise as handled now (it is awaited later): a rejection meanwhile is not an unhandled one. */
function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * A cursor's documents one server batch at a time, with the next batch's getMore already on its way
 * while the caller works on the current one: the server reads while the source encodes and sends.
 * Leaving the loop early waits for that getMore, so the caller may close the cursor afterwards.
 */
export async function* cursorBatches<T>(cursor: AbstractCursor<T>): AsyncGenerator<T[]> {
  let more = observed(cursor.hasNext());
  try {
    while (await more) {
      const batch = cursor.readBufferedDocuments();
      more = observed(cursor.hasNext());
      yield batch;
    }
  } finally {
    await more.catch(() => false);
  }
}
