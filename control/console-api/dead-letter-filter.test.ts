import fc from 'fast-check';
import { deadLetterFilterSchema, matchesDeadLetter } from './dead-letter-filter.js';
import type { DeadLetterView } from './dead-letter-reader.js';

const letter = (over: Partial<DeadLetterView>): DeadLetterView => ({
  partition: 0,
  offset: '0',
  errorKind: 'function:runtime',
  error: 'cannot price order 4',
  attempts: 3,
  origin: { topic: 'cf.shop.orders', partition: 0, offset: '4' },
  replayedFrom: null,
  redriven: false,
  at: null,
  key: '{"_id":4}',
  event: { op: 'insert', fullDocument: { _id: 4, note: 'Gift WRAP' } },
  ...over,
});

describe('dead-letter filter', () => {
  it('matches the error kind exactly and text in the message, key or event, case-insensitively', () => {
    const f = (query: Record<string, unknown>) => deadLetterFilterSchema.parse(query);
    expect(matchesDeadLetter(letter({}), f({ errorKind: 'function:runtime' }), false)).toBe(true);
    expect(matchesDeadLetter(letter({}), f({ errorKind: 'function' }), false)).toBe(false);
    expect(matchesDeadLetter(letter({}), f({ contains: 'PRICE' }), false)).toBe(true);
    expect(matchesDeadLetter(letter({}), f({ contains: '"_id":4' }), false)).toBe(true);
    expect(matchesDeadLetter(letter({}), f({ contains: 'gift wrap' }), false)).toBe(true);
    expect(matchesDeadLetter(letter({}), f({ contains: 'refund' }), false)).toBe(false);
    expect(matchesDeadLetter(letter({ errorKind: 'decode' }), f({ errorKind: 'function:runtime', contains: 'price' }), false)).toBe(false);
  });

  it('leaves letters already redriven out unless asked, or unless the default says so', () => {
    const redriven = letter({ redriven: true });
    expect(matchesDeadLetter(redriven, deadLetterFilterSchema.parse({}), false)).toBe(false);
    expect(matchesDeadLetter(redriven, deadLetterFilterSchema.parse({}), true)).toBe(true);
    expect(matchesDeadLetter(redriven, deadLetterFilterSchema.parse({ includeRedriven: 'true' }), false)).toBe(true);
    expect(matchesDeadLetter(redriven, deadLetterFilterSchema.parse({ includeRedriven: false }), true)).toBe(false);
  });

  it('refuses what is not a filter, naming the field', () => {
    for (const bad of [{ errorKind: 'Function Runtime' }, { contains: '' }, { colour: 'red' }, { includeRedriven: 'yes' }])
      expect(deadLetterFilterSchema.safeParse(bad).success).toBe(false);
  });

  it('narrows: adding a condition never matches a letter the looser filter did not', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('function:runtime', 'decode', 'sink-rejected'),
        fc.string({ maxLength: 20 }),
        fc.boolean(),
        fc.string({ minLength: 1, maxLength: 3 }),
        (kind, error, redriven, needle) => {
          const l = letter({ errorKind: kind, error, redriven });
          const loose = matchesDeadLetter(l, { errorKind: kind }, false);
          const strict = matchesDeadLetter(l, { errorKind: kind, contains: needle }, false);
          return !strict || loose;
        },
      ),
    );
  });
});
