import fc from 'fast-check';
import { contentOf } from './content.js';
import { buildMessage, encodeMessage, soloEventBytes, type EventSyncMessage, type MessageFrame, type SyncEvent } from './message.js';

const frame: MessageFrame = { serviceName: 'limits', triggerType: 'window', eventKeys: ['a', 'b', 'c'] };
const event = (id: string, eventKey: string, content: string, at = 0): SyncEvent => ({
  id,
  eventKey,
  datetime: new Date(at),
  headers: { 'Content-Type': ['text/plain'] },
  queryParams: {},
  content,
});

describe('EventSync event content', () => {
  it('keeps valid UTF-8 as text and anything else as base64 with encoding', () => {
    expect(contentOf(Buffer.from('grüße ✓ 😀'))).toEqual({ content: 'grüße ✓ 😀' });
    expect(contentOf(Buffer.from([0xc3, 0x28]))).toEqual({ content: 'wyg=', encoding: 'base64' });
    expect(contentOf(undefined)).toEqual({ content: '' });
  });

  it('writes encoding into the message event only when set', () => {
    const message = buildMessage({ ...frame, events: [{ ...event('x', 'a', 'AP8='), encoding: 'base64' }, event('y', 'b', 'text')], date: new Date(0) });
    expect(message.events['a']?.events[0]).toMatchObject({ content: 'AP8=', encoding: 'base64' });
    expect(Object.keys(message.events['b']?.events[0] ?? {})).toEqual(['datetime', 'eventKey', 'headers', 'queryParams', 'content']);
  });
});

describe('soloEventBytes: an event within the limit always fits in a split', () => {
  it('bounds every part: any window of events that each pass the intake check splits without loss', () => {
    const maxBytes = 4_096;
    const content = fc.oneof(fc.string({ maxLength: 3_000 }), fc.string({ unit: 'binary', maxLength: 800 }), fc.constant('"\\\n'.repeat(500)));
    const eventArb = fc.tuple(fc.constantFrom('a', 'b', 'c'), content, fc.integer({ min: 0, max: 2 ** 40 }));
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 30 }), (items) => {
        const events = items.map(([key, text, at], i) => event(`id-${i}`, key, text, at)).filter((e) => soloEventBytes(frame, e) <= maxBytes);
        const message = buildMessage({ ...frame, events, date: new Date(0) });
        const values = encodeMessage(message, maxBytes, 'split');
        for (const value of values) expect(Buffer.byteLength(value)).toBeLessThanOrEqual(maxBytes);
        const parts = values.map((v) => JSON.parse(v) as EventSyncMessage);
        expect(parts.flatMap((p) => Object.values(p.events).flatMap((l) => l.events.map((e) => e.content))).sort()).toEqual(
          events.map((e) => e.content).sort(),
        );
      }),
      { seed: 17_2026, numRuns: 200 },
    );
  });

  it('is over the limit for an event that cannot fit alone', () => {
    const big = event('big', 'a', 'x'.repeat(5_000));
    expect(soloEventBytes(frame, big)).toBeGreaterThan(5_000);
    expect(() => encodeMessage(buildMessage({ ...frame, events: [big], date: new Date(0) }), 4_096, 'split')).toThrow(/does not fit in target.maxMessageBytes/);
  });
});
