import type { SourceConfig } from './source-config.js';
import type { SourcePosition } from './source-position.js';

/** How a source begins: copy first, continue a copy, resume the stream, or start at "now". */
export type StartPlan =
  | { kind: 'snapshot'; reason: string }
  | { kind: 'resume-snapshot'; position: SourcePosition }
  | { kind: 'stream'; position: SourcePosition }
  | { kind: 'latest'; reason: string };

/** What to do when the process starts with `stored` (null: nothing stored for this source). */
export function planStart(snapshot: SourceConfig['snapshot'], stored: SourcePosition | null): StartPlan {
  if (stored === null) {
    if (snapshot === 'never') return { kind: 'latest', reason: 'no stored position and snapshot: never' };
    return { kind: 'snapshot', reason: `no stored position and snapshot: ${snapshot}` };
  }
  if (stored.inSnapshot) return { kind: 'resume-snapshot', position: stored };
  return { kind: 'stream', position: stored };
}

/** What an operator can do when a source's history is lost (docs/sources.md "History lost"); the console shows it too. */
export const HISTORY_LOST_REMEDY =
  'Enlarge the oplog, or set onHistoryLost: snapshot (copy everything again) or onHistoryLost: latest (skip ahead, accepting a gap).';

export type HistoryLostAction = { kind: 'fail'; message: string } | { kind: 'snapshot' } | { kind: 'latest'; message: string };

/**
 * The stored resume point has left the oplog. `fail` is the default because both other answers
 * change what consumers see: a re-snapshot repeats every document, `latest` leaves a gap.
 * `snapshot: when_needed` asks for a snapshot whenever the stream cannot continue, so it turns `fail` into `snapshot`.
 */
export function onHistoryLost(
  policy: SourceConfig['onHistoryLost'],
  snapshot: SourceConfig['snapshot'],
  sourceName: string,
  position: string,
): HistoryLostAction {
  if (policy === 'snapshot' || (policy === 'fail' && snapshot === 'when_needed')) return { kind: 'snapshot' };
  if (policy === 'latest') {
    return {
      kind: 'latest',
      message: `source "${sourceName}": change history lost (${position} is no longer in the oplog); skipping ahead to the latest change — changes in between are MISSING from Kafka (onHistoryLost: latest)`,
    };
  }
  return {
    kind: 'fail',
    message:
      `source "${sourceName}": cannot resume: the stored position (${position}) is no longer in the oplog (ChangeStreamHistoryLost). ` + HISTORY_LOST_REMEDY,
  };
}
