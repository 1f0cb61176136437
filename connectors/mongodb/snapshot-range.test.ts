import { Int32, MaxKey, ObjectId } from 'mongodb';
import { afterIdFilters } from './snapshot-range.js';
import { progressLine } from './snapshot-progress.js';

describe('afterIdFilters', () => {
  it('continues the same type bracket with $gt, then takes every later-typed _id', () => {
    const [same, later] = afterIdFilters(new Int32(5));
    expect(same).toEqual({ _id: { $gt: new Int32(5) } });
    const types = (later as { _id: { $type: string[] } })._id.$type;
    expect(types).toEqual(expect.arrayContaining(['string', 'objectId', 'date']));
    expect(types).not.toContain('int');
  });

  it('after an ObjectId only later brackets (bool, date, …) follow; after MaxKey nothing', () => {
    expect((afterIdFilters(new ObjectId())[1] as { _id: { $type: string[] } })._id.$type).toEqual(['bool', 'date', 'timestamp', 'regex', 'maxKey']);
    expect(afterIdFilters(new MaxKey())).toHaveLength(1);
  });
});

describe('progressLine', () => {
  it('shows docs, docs/s and ETA', () => {
    expect(progressLine('s', 500, 1000, 0, 1000)).toMatch(/50\.0% 500\/1000 docs 500 docs\/s ETA 1s/);
  });
});
