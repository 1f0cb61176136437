import { isHistoryLost, isNotReplicaSet } from '../../core/mongo-errors.js';
import { SourcePosition } from './source-position.js';
import { onHistoryLost, planStart } from './start-plan.js';

describe('planStart', () => {
  const stream = SourcePosition.afterToken({ _data: 'aa' });
  const snap = SourcePosition.snapshotting({ clusterTime: { t: 1, i: 1 } }, { ranges: [{ ns: 'a.b', copied: 3 }], copied: 3 });

  it('snapshots a new source unless snapshot: never', () => {
    expect(planStart('initial', null).kind).toBe('snapshot');
    expect(planStart('when_needed', null).kind).toBe('snapshot');
    expect(planStart('never', null).kind).toBe('latest');
  });

  it('continues an interrupted snapshot and resumes a stored stream position', () => {
    expect(planStart('initial', snap)).toEqual({ kind: 'resume-snapshot', position: snap });
    expect(planStart('initial', stream)).toEqual({ kind: 'stream', position: stream });
    expect(planStart('never', stream).kind).toBe('stream');
  });
});

describe('onHistoryLost', () => {
  it('fails by default with a message naming the source, the position and the options', () => {
    const action = onHistoryLost('fail', 'initial', 'shop', 'stream after token x');
    expect(action.kind).toBe('fail');
    if (action.kind === 'fail') expect(action.message).toMatch(/source "shop".*stream after token x.*onHistoryLost: snapshot.*onHistoryLost: latest/s);
  });

  it('re-snapshots on snapshot, and on fail when snapshot: when_needed', () => {
    expect(onHistoryLost('snapshot', 'never', 's', 'p').kind).toBe('snapshot');
    expect(onHistoryLost('fail', 'when_needed', 's', 'p').kind).toBe('snapshot');
  });

  it('skips ahead on latest, saying loudly that there is a gap', () => {
    const action = onHistoryLost('latest', 'initial', 'shop', 'p');
    expect(action.kind).toBe('latest');
    if (action.kind === 'latest') expect(action.message).toMatch(/MISSING/);
  });
});

describe('server error classification', () => {
  it('recognises lost history (286, 280, message) and non-replica-set servers (40573)', () => {
    expect(isHistoryLost({ code: 286, codeName: 'ChangeStreamHistoryLost' })).toBe(true);
    expect(isHistoryLost({ code: 280 })).toBe(true);
    expect(isHistoryLost({ message: 'Resume of change stream was not possible, as the resume point may no longer be in the oplog.' })).toBe(true);
    expect(isHistoryLost({ code: 11600 })).toBe(false);
    expect(isNotReplicaSet({ code: 40573, message: 'The $changeStream stage is only supported on replica sets' })).toBe(true);
    expect(isNotReplicaSet({ code: 11000 })).toBe(false);
  });
});
