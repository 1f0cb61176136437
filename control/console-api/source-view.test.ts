import { SourcePosition } from '../../connectors/mongodb/source-position.js';
import { HISTORY_LOST_REMEDY } from '../../connectors/mongodb/start-plan.js';
import type { HealthCheck } from '../../core/health.js';
import { ownSource } from '../tenant-sources.js';
import { sourcePageView, sourceVisible } from './source-view.js';

const running: HealthCheck = { ok: true, state: 'running', owner: 'instance', since: '2026-01-01T00:00:00.000Z' };

describe('sourceVisible', () => {
  const aliceOwn = ownSource('cf', 'alice', { dataSource: 'mongodb://a/', db: 'shop' }).name;

  it('shows an admin every source and a tenant only its own data_source sources or those health reports under it', () => {
    expect(sourceVisible({ userId: 'ops', admin: true }, 'orders', running)).toBe(true);
    expect(sourceVisible({ userId: 'alice', admin: false }, aliceOwn, undefined)).toBe(true);
    expect(sourceVisible({ userId: 'alice', admin: false }, 'alice-feed', { ...running, owner: 'tenant:alice' })).toBe(true);
    expect(sourceVisible({ userId: 'bob', admin: false }, aliceOwn, undefined)).toBe(false);
    expect(sourceVisible({ userId: 'bob', admin: false }, 'alice-feed', { ...running, owner: 'tenant:alice' })).toBe(false);
    // A config source a tenant's triggers read is the operator's: its position is the service's state.
    expect(sourceVisible({ userId: 'alice', admin: false }, 'orders', running)).toBe(false);
  });
});

describe('sourcePageView', () => {
  it('shows a streaming position with its resume token and the checkpoint age from when it was stored', () => {
    const stored = SourcePosition.afterToken({ _data: '8201' }).encode();
    const savedAt = Date.parse((JSON.parse(stored) as { savedAt: string }).savedAt);
    const view = sourcePageView('orders', running, stored, undefined, savedAt + 4_500);
    expect(view).toMatchObject({ name: 'orders', state: 'running', ok: true, reason: null, checkpointAgeSeconds: 4.5, snapshot: null, historyLost: null });
    expect(view.position).toMatchObject({ phase: 'stream', resumeToken: '{"_data":"8201"}', clusterTime: null });
    expect(view.position?.description).toMatch(/^stream after token/);
  });

  it('shows snapshot progress per range, with the total when this process knows it', () => {
    const stored = SourcePosition.snapshotting(
      { clusterTime: { t: 5, i: 1 } },
      {
        copied: 30,
        ranges: [
          { ns: 'shop.orders', until: '{"_id":50}', copied: 20, done: true },
          { ns: 'shop.orders', from: '{"_id":50}', copied: 10 },
        ],
      },
    ).encode();
    const view = sourcePageView('orders', running, stored, 100);
    expect(view.position).toMatchObject({ phase: 'snapshot', resumeToken: null, clusterTime: { t: 5, i: 1 } });
    expect(view.snapshot).toEqual({
      copied: 30,
      total: 100,
      ranges: [
        { name: 'shop.orders[lowest, {"_id":50})', copied: 20, done: true },
        { name: 'shop.orders[{"_id":50}, highest)', copied: 10, done: false },
      ],
    });
  });

  it('says what to do when the history is lost, and copes with a source that has neither health nor a readable position', () => {
    const failed: HealthCheck = {
      ...running,
      ok: false,
      state: 'failed',
      detail: 'source "orders": cannot resume: the stored position (x) is no longer in the oplog (ChangeStreamHistoryLost).',
    };
    expect(sourcePageView('orders', failed, undefined, undefined)).toMatchObject({ ok: false, state: 'failed', historyLost: { remedy: HISTORY_LOST_REMEDY } });
    expect(sourcePageView('gone', undefined, '{"v":9}', undefined)).toMatchObject({ state: 'unknown', position: null, historyLost: null });
  });
});
