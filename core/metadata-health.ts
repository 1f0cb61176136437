import type { Db } from 'mongodb';
import { errorMessage } from './errors.js';
import type { Health } from './health.js';
import type { Logger } from './logger.js';

export const METADATA_HEALTH = 'metadata';

/**
 * Pings the metadata store every `everyMs` and reports it as the instance's `metadata` component:
 * leases, triggers and tokens live there, so the instance is not ready while it does not answer.
 * Logs once per change of state. Returns a function that stops the pings.
 */
export function watchMetadata(db: Db, health: Health, logger: Logger, everyMs = 5_000): () => void {
  let busy = false;
  let down = false;
  const ping = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      await db.command({ ping: 1 });
      if (down) logger.info('metadata MongoDB answers again');
      down = false;
      health.set(METADATA_HEALTH, true, `mongodb.db ${db.databaseName}`);
    } catch (error) {
      if (!down) logger.error({ err: errorMessage(error) }, 'metadata MongoDB does not answer');
      down = true;
      health.set(
        METADATA_HEALTH,
        false,
        `metadata MongoDB (mongodb.uri, db ${db.databaseName}) does not answer: ${errorMessage(error)} (pinged every ${everyMs} ms)`,
      );
    } finally {
      busy = false;
    }
  };
  health.set(METADATA_HEALTH, true, `mongodb.db ${db.databaseName}`);
  const timer = setInterval(() => void ping(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
