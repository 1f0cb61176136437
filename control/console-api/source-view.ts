import { z } from 'zod';
import type { HealthCheck } from '../../core/health.js';
import { HISTORY_LOST_REMEDY } from '../../connectors/mongodb/start-plan.js';
import { rangeName, SourcePosition } from '../../connectors/mongodb/source-position.js';
import type { Principal } from '../auth.js';
import { ownerTag } from '../tenant-sources.js';

export interface SourcePositionView {
  phase: 'stream' | 'snapshot';
  /** The resume token (canonical EJSON) the stream continues after, or null when it starts at a cluster time. */
  resumeToken: string | null;
  clusterTime: { t: number; i: number } | null;
  /** SourcePosition.describe(): the same words the service's logs use. */
  description: string;
  savedAt: string | null;
}

export interface SnapshotView {
  copied: number;
  /** Estimated documents to copy (only known when the snapshot runs in this process), else null. */
  total: number | null;
  ranges: { name: string; copied: number; done: boolean }[];
}

export interface SourcePageView {
  name: string;
  state: string;
  ok: boolean;
  reason: string | null;
  position: SourcePositionView | null;
  checkpointAgeSeconds: number | null;
  snapshot: SnapshotView | null;
  /** Set when the source stopped because its stored position left the oplog: what to do about it. */
  historyLost: { remedy: string } | null;
}

/**
 * Which sources a caller may see, as the Pipeline page decides: an admin every source; a tenant only
 * its own (the `ds-<owner tag>` sources started for its triggers' data_sources, or reported under
 * `tenant:<user>` in health). Config sources a tenant's triggers read are the operator's: their
 * positions are the service's state, never shown to a tenant.
 */
export function sourceVisible(principal: Pick<Principal, 'userId' | 'admin'>, name: string, check: Pick<HealthCheck, 'owner'> | undefined): boolean {
  if (principal.admin) return true;
  return name.startsWith(`ds-${ownerTag(principal.userId)}`) || check?.owner === `tenant:${principal.userId}`;
}

const savedAtSchema = z.looseObject({ savedAt: z.string() });

function decodeOrNull(stored: string): SourcePosition | null {
  try {
    return SourcePosition.decode(stored);
  } catch {
    return null;
  }
}

const isHistoryLost = (detail: string | undefined): boolean => detail !== undefined && /ChangeStreamHistoryLost|history lost/i.test(detail);

/** One source for the Source page, from its health and its stored position (the newest `<prefix>.__offsets` value). */
export function sourcePageView(
  name: string,
  check: HealthCheck | undefined,
  stored: string | undefined,
  snapshotTotal: number | undefined,
  now = Date.now(),
): SourcePageView {
  let position: SourcePositionView | null = null;
  let snapshot: SnapshotView | null = null;
  let checkpointAgeSeconds: number | null = null;
  const decoded = stored === undefined ? undefined : decodeOrNull(stored);
  if (stored !== undefined && decoded) {
    const saved = savedAtSchema.safeParse(JSON.parse(stored));
    const savedAt = saved.success && saved.data.savedAt !== '' ? saved.data.savedAt : null;
    const start = decoded.start;
    position = {
      phase: decoded.inSnapshot ? 'snapshot' : 'stream',
      resumeToken: 'resumeToken' in start ? start.resumeToken : null,
      clusterTime: 'clusterTime' in start ? start.clusterTime : null,
      description: decoded.describe(),
      savedAt,
    };
    if (savedAt !== null && !Number.isNaN(Date.parse(savedAt))) checkpointAgeSeconds = Math.max(0, (now - Date.parse(savedAt)) / 1000);
    if (decoded.snapshot)
      snapshot = {
        copied: decoded.snapshot.copied,
        total: snapshotTotal ?? null,
        ranges: decoded.snapshot.ranges.map((r) => ({ name: rangeName(r), copied: r.copied, done: r.done === true })),
      };
  }
  const running = check?.ok === true && check.state === 'running';
  return {
    name,
    state: check?.state ?? 'unknown',
    ok: check?.ok ?? true,
    reason: check && !running ? (check.detail ?? null) : null,
    position,
    checkpointAgeSeconds,
    snapshot,
    historyLost: check && !check.ok && isHistoryLost(check.detail) ? { remedy: HISTORY_LOST_REMEDY } : null,
  };
}
