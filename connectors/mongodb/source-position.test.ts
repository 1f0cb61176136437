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

  it('round-trips snapshot progress and finishes into the same stream start', () => {
    const position = SourcePosition.snapshotting(
      { clusterTime: { t: 5, i: 1 } },
      { namespaces: ['a.b', 'a.c'], index: 1, lastKey: '{"_id":{"$numberInt":"7"}}', copied: 42 },
    );
    const back = SourcePosition.decode(position.encode());
    expect(back.snapshot).toEqual({ namespaces: ['a.b', 'a.c'], index: 1, lastKey: '{"_id":{"$numberInt":"7"}}', copied: 42 });
    expect(back.streaming().inSnapshot).toBe(false);
    expect(back.streaming().watchOptions()).toEqual(position.streaming().watchOptions());
    expect(back.describe()).toMatch(/snapshot of a.c after _id .*42 copied/);
  });

  it('refuses a stored value it cannot read, saying what is wrong', () => {
    expect(() => SourcePosition.decode('{"v":1,"phase":"stream"}')).toThrow(/start/);
  });
});
