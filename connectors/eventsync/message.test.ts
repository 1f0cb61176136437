import { buildMessage, encodeMessage, eventSyncId, MessageTooLargeError, splitMessage, type EventSyncMessage, type SyncEvent } from './message.js';

const event = (id: string, eventKey: string, at: number, content = 'x'): SyncEvent => ({
  id,
  eventKey,
  datetime: new Date(at),
  headers: { 'Content-Type': ['text/plain'] },
  queryParams: {},
  content,
});

describe('EventSync message', () => {
  it('has the EventSync field names, one EventList per endpoint, and an id that ignores order', () => {
    const events = [event('b', 'entry2', 2000), event('a', 'entry1', 1000)];
    const message = buildMessage({ serviceName: 's', triggerType: 'window', eventKeys: ['entry1', 'entry2', 'entry3'], events, date: new Date(3000) });
    expect(Object.keys(message)).toEqual(['eventID', 'date', 'serviceName', 'triggerType', 'events']);
    expect(Object.keys(message.events['entry1'] ?? {})).toEqual(['FirstEventDate', 'lastEventDate', 'numberOfEvents', 'events']);
    expect(Object.keys(message.events['entry1']?.events[0] ?? {})).toEqual(['datetime', 'eventKey', 'headers', 'queryParams', 'content']);
    expect(message.events['entry3']).toEqual({ numberOfEvents: 0, events: [] });
    expect(message.eventID).toBe(eventSyncId(['a', 'b']));
    expect(eventSyncId(['b', 'a'])).toBe(eventSyncId(['a', 'b']));
    expect(eventSyncId(['a'])).not.toBe(eventSyncId(['a', 'b']));
  });

  it('splits an oversized message into parts that fit and together hold every event once', () => {
    const events = Array.from({ length: 60 }, (_, i) => event(`id${i}`, i % 2 ? 'entry1' : 'entry2', i, 'y'.repeat(200)));
    const message = buildMessage({ serviceName: 's', triggerType: 'window', eventKeys: ['entry1', 'entry2'], events, date: new Date(0) });
    const values = encodeMessage(message, 4000, 'split');
    expect(values.length).toBeGreaterThan(3);
    const parts = values.map((v) => JSON.parse(v) as EventSyncMessage);
    for (const [i, part] of parts.entries()) {
      expect(Buffer.byteLength(values[i] ?? '')).toBeLessThanOrEqual(4000);
      expect(part.part).toEqual({ index: i + 1, count: parts.length });
      expect(part.eventID).toBe(message.eventID);
      expect(part.events['entry1']?.numberOfEvents).toBe(30);
    }
    const contents = parts.flatMap((p) => Object.values(p.events).flatMap((l) => l.events.map((e) => e.datetime)));
    expect(new Set(contents).size).toBe(60);
  });

  it('rejects an oversized message with a clear error, and an event too large to split', () => {
    const message = buildMessage({
      serviceName: 's',
      triggerType: 'none',
      eventKeys: ['k'],
      events: [event('a', 'k', 0, 'z'.repeat(5000))],
      date: new Date(0),
    });
    expect(() => encodeMessage(message, 2000, 'reject')).toThrow(/over target.maxMessageBytes \(2000\); set target.oversize: split/);
    expect(() => splitMessage(message, 2000)).toThrow(MessageTooLargeError);
    expect(encodeMessage(message, 10_000, 'reject')).toHaveLength(1);
  });
});
