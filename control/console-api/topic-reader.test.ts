import fc from 'fast-check';
import type { IncomingRecord } from '../../core/kafka/index.js';
import { TailCollector } from './topic-reader.js';

const record = (partition: number, offset: number): IncomingRecord => ({
  topic: 't',
  partition,
  offset: String(offset),
  key: null,
  value: Buffer.from(String(offset)),
  headers: {},
  timestamp: offset,
});

describe('TailCollector', () => {
  it('keeps each record from the start offset on once, when a seek delivers the fetched batch again', () => {
    const tail = new TailCollector(new Map([[0, 3]]));
    tail.add(
      0,
      [0, 1, 2, 3, 4].map((o) => record(0, o)),
    );
    // After the seek to offset 3 the client hands over 3 and 4 again, then 5.
    tail.add(
      0,
      [3, 4, 5].map((o) => record(0, o)),
    );
    expect(tail.records.map((r) => r.offset)).toEqual(['3', '4', '5']);
  });

  it('holds every offset at or after its partition start exactly once, for any overlapping deliveries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 10 })), { minLength: 1, maxLength: 12 }),
        (start, deliveries) => {
          const tail = new TailCollector(new Map([[1, start]]));
          // Each delivery is a run of consecutive offsets from some point, in order, as a consumer hands them over after a seek.
          let furthest = -1;
          for (const [from, length] of deliveries) {
            const run = Array.from({ length }, (_, i) => from + i);
            tail.add(
              1,
              run.map((o) => record(1, o)),
            );
            furthest = Math.max(furthest, ...run);
          }
          const offsets = tail.records.map((r) => Number(r.offset));
          return offsets.every((o) => o >= start) && new Set(offsets).size === offsets.length && offsets.every((o, i) => i === 0 || o > (offsets[i - 1] ?? -1));
        },
      ),
    );
  });
});
