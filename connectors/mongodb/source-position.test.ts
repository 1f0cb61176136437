import { Timestamp } from 'mongodb';
import { SourcePosition } from './source-position.js';

describe('SourcePosition', () => {
  it('round-trips a resume token and gives resumeAfter', () => {
    const position = SourcePosition.afterToken({ _data: '8263A1' });
    const back = SourcePosition.decode(position.encode());
    expect(back.watchOptions()).toEqual({ resumeAfter: { _data: '8263A1' } });
    expect(back.inSnapshot).toBe(false);
    expect(back.startingAfter().watchOptions()).toEqual({ startAfter: { _data: '8263A1' } });
  });

  it('round-trips a cluster time and gives startAtOperationTime', () => {
    const back = SourcePosition.decode(SourcePosition.atClusterTime(new Timestamp({ t: 1700000000, i: 4 })).encode());
    const options = back.watchOptions();
    expect('startAtOperationTime' in options && options.startAtOperationTime.t).toBe(1700000000);
  });

  it('round-trips snapshot progress by range and finishes into the same stream start', () => {
    const ranges = [
      { ns: 'a.b', copied: 10, done: true },
      { ns: 'a.c', until: '{"_id":{"$numberInt":"500"}}', lastKey: '{"_id":{"$numberInt":"7"}}', copied: 8 },
      { ns: 'a.c', from: '{"_id":{"$numberInt":"500"}}', lastKey: '{"_id":"k"}', copied: 24 },
      { ns: 'a.d', copied: 0 },
    ];
    const position = SourcePosition.snapshotting({ clusterTime: { t: 5, i: 1 } }, { ranges, copied: 42 });
    const back = SourcePosition.decode(position.encode());
    expect(back.snapshot).toEqual({ ranges, copied: 42 });
    expect(back.equals(position)).toBe(true);
    expect(back.streaming().inSnapshot).toBe(false);
    expect(back.streaming().watchOptions()).toEqual(position.streaming().watchOptions());
    expect(back.describe()).toMatch(/a\.c\[lowest, \{"_id":\{"\$numberInt":"500"\}\}\) after _id \{"_id":\{"\$numberInt":"7"\}\}/);
    expect(back.describe()).toMatch(/1\/4 ranges done, 42 copied/);
  });

  it('keeps its own copy of the ranges: later progress does not change a position already handed out', () => {
    const ranges = [{ ns: 'a.b', copied: 0 }];
    const position = SourcePosition.snapshotting({ clusterTime: { t: 5, i: 1 } }, { ranges, copied: 0 });
    ranges[0] = { ns: 'a.b', copied: 9 };
    expect(position.snapshot?.ranges[0]?.copied).toBe(0);
  });

  it('reads and resumes the position stored before parallel snapshots (one collection at a time)', () => {
    const stored = JSON.stringify({
      v: 1,
      phase: 'snapshot',
      start: { clusterTime: { t: 5, i: 1 } },
      namespaces: ['a.b', 'a.c', 'a.d'],
      index: 1,
      lastKey: '{"_id":{"$numberInt":"7"}}',
      copied: 42,
      savedAt: '2026-11-30T10:00:00.000Z',
    });
    const back = SourcePosition.decode(stored);
    expect(back.snapshot).toEqual({
      ranges: [
        { ns: 'a.b', copied: 0, done: true },
        { ns: 'a.c', copied: 0, lastKey: '{"_id":{"$numberInt":"7"}}' },
        { ns: 'a.d', copied: 0 },
      ],
      copied: 42,
    });
    expect(back.watchOptions()).toEqual({ startAtOperationTime: new Timestamp({ t: 5, i: 1 }) });
    // Written back in the new shape, which reads as the same progress.
    expect(JSON.parse(back.encode())).toMatchObject({ v: 2, phase: 'snapshot' });
    expect(SourcePosition.decode(back.encode()).snapshot).toEqual(back.snapshot);
  });

  it('refuses a stored value it cannot read, saying what is wrong', () => {
    expect(() => SourcePosition.decode('{"v":1,"phase":"stream"}')).toThrow(/start/);
  });
});
