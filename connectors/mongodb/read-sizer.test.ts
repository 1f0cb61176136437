import fc from 'fast-check';
import { ReadSizer } from './read-sizer.js';

describe('ReadSizer', () => {
  it('grows while reads come back full, up to max', () => {
    const sizer = new ReadSizer(500, 4_000);
    expect([sizer.observe(500), sizer.observe(1_000), sizer.observe(2_000), sizer.observe(4_000)]).toEqual([1_000, 2_000, 4_000, 4_000]);
  });

  it('shrinks back to min once reads come back well short, and holds between', () => {
    const sizer = new ReadSizer(500, 4_000);
    for (let i = 0; i < 4; i++) sizer.observe(sizer.size);
    expect(sizer.size).toBe(4_000);
    expect(sizer.observe(2_500)).toBe(4_000); // more than a quarter: keep the size
    expect(sizer.observe(10)).toBe(2_000);
    expect(sizer.observe(0)).toBe(1_000);
    expect(sizer.observe(0)).toBe(500);
    expect(sizer.observe(0)).toBe(500);
  });

  it('never leaves [min, max] and never shrinks after a full read, for any read sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2_000 }),
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.nat({ max: 40_000 }), { maxLength: 60 }),
        (min, factor, reads) => {
          const max = min * factor;
          const sizer = new ReadSizer(min, max);
          for (const events of reads) {
            const before = sizer.size;
            const next = sizer.observe(Math.min(events, before));
            expect(next).toBeGreaterThanOrEqual(min);
            expect(next).toBeLessThanOrEqual(max);
            if (events >= before) expect(next).toBeGreaterThanOrEqual(before);
          }
        },
      ),
    );
  });
});
