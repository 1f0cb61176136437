import { parseOrThrow } from '../../core/schema-errors.js';
import { crossCheckServices, eventSyncConfigSchema, servicePathPrefix, serviceSlug } from './config.js';

const base = {
  serviceName: 'My First Event Sync',
  trigger: { type: 'window', observationPeriod: 3600 },
  endpoints: [{ eventKey: 'entry1' }, { eventKey: 'entry2' }],
  target: { topic: 'out' },
};
const parse = (input: unknown) => parseOrThrow(eventSyncConfigSchema, input, 'eventsync', 'eventsync[0]');

describe('EventSync config', () => {
  it('applies the EventSync defaults and derives the path prefix from the service name', () => {
    const config = parse(base);
    expect(config.trigger.keepEventAfterTrigger).toBe(false);
    expect(config.target).toEqual({ topic: 'out', maxMessageBytes: 1_000_000, oversize: 'split' });
    expect(servicePathPrefix(config)).toBe('/eventsync/my-first-event-sync');
    expect(serviceSlug('!!!')).toMatch(/^svc-[0-9a-f]{12}$/);
  });

  it('names the field of every problem', () => {
    expect(() => parse({ ...base, trigger: { type: 'window', observationPeriod: 0 } })).toThrow(
      'eventsync[0].trigger.observationPeriod: observationPeriod must be a number of seconds > 0',
    );
    expect(() => parse({ ...base, endpoints: [{ eventKey: 'a' }, { eventKey: 'a' }] })).toThrow(
      'eventsync[0].endpoints[1].eventKey: eventKey "a" is already used by endpoints[0]',
    );
    expect(() => parse({ ...base, trigger: { type: 'sometimes', observationPeriod: 1 } })).toThrow('eventsync[0].trigger.type');
    expect(() => parse({ ...base, targetPubSub: { topic: 'projects/p/topics/t' } })).toThrow('eventsync[0].targetPubSub: targetPubSub is replaced by target');
    expect(() => parse({ ...base, auth: { type: 'bearer', token: 'short' } })).toThrow('eventsync[0].auth.token');
  });

  it('refuses two services on one path prefix', () => {
    const a = parse(base);
    const b = parse({ ...base, serviceName: 'my first event-sync' });
    expect(crossCheckServices([a, b])).toEqual([
      expect.stringContaining('eventsync[1].pathPrefix: "/eventsync/my-first-event-sync" is already used by eventsync[0]'),
      expect.stringContaining('eventsync[1].serviceName'),
    ]);
  });
});
