import { createHash } from 'node:crypto';
import { ChangeflowError } from '../../core/errors.js';

/** One event as stored and as it appears in the EventSync message (docs/eventsync.md "The message"). */
export interface SyncEvent {
  id: string;
  eventKey: string;
  datetime: Date;
  headers: Record<string, string[]>;
  queryParams: Record<string, string[]>;
  content: string;
  /** Set when the body was not valid UTF-8: `content` is then its base64. */
  encoding?: 'base64';
}

/** EventSync "Event", field names exactly as the requirements spell them (docs/design.md); `encoding` only for bodies stored as base64. */
export interface MessageEvent {
  datetime: string;
  eventKey: string;
  headers: Record<string, string[]>;
  queryParams: Record<string, string[]>;
  content: string;
  encoding?: 'base64';
}

/** EventSync "EventList"; `FirstEventDate` keeps the original capital F. */
export interface EventList {
  FirstEventDate?: string;
  lastEventDate?: string;
  numberOfEvents: number;
  events: MessageEvent[];
}

/** EventSync "EventSync". `part` is present only when an oversized message was split. */
export interface EventSyncMessage {
  eventID: string;
  date: string;
  serviceName: string;
  triggerType: 'window' | 'none';
  events: Record<string, EventList>;
  part?: { index: number; count: number };
}

export class MessageTooLargeError extends ChangeflowError {
  constructor(message: string) {
    super(message, { code: 'EVENTSYNC_MESSAGE_TOO_LARGE', retriable: false });
  }
}

/** MD5 over the sorted event ids: the same set of events always gives the same eventID. */
export function eventSyncId(eventIds: readonly string[]): string {
  const hash = createHash('md5');
  for (const id of [...eventIds].sort()) hash.update(id).update('\n');
  return hash.digest('hex');
}

function toMessageEvent(e: SyncEvent): MessageEvent {
  return {
    datetime: e.datetime.toISOString(),
    eventKey: e.eventKey,
    headers: e.headers,
    queryParams: e.queryParams,
    content: e.content,
    ...(e.encoding ? { encoding: e.encoding } : {}),
  };
}

/** Builds the message; every configured eventKey gets an entry, in config order, events oldest first. */
export function buildMessage(input: {
  serviceName: string;
  triggerType: 'window' | 'none';
  eventKeys: readonly string[];
  events: readonly SyncEvent[];
  date: Date;
}): EventSyncMessage {
  const sorted = [...input.events].sort((a, b) => a.datetime.getTime() - b.datetime.getTime() || a.id.localeCompare(b.id));
  const events: Record<string, EventList> = {};
  for (const key of input.eventKeys) {
    const mine = sorted.filter((e) => e.eventKey === key);
    const first = mine[0];
    const last = mine[mine.length - 1];
    events[key] = {
      ...(first ? { FirstEventDate: first.datetime.toISOString() } : {}),
      ...(last ? { lastEventDate: last.datetime.toISOString() } : {}),
      numberOfEvents: mine.length,
      events: mine.map(toMessageEvent),
    };
  }
  return {
    eventID: eventSyncId(input.events.map((e) => e.id)),
    date: input.date.toISOString(),
    serviceName: input.serviceName,
    triggerType: input.triggerType,
    events,
  };
}

const byteLength = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** What every message of a service carries besides its events. */
export interface MessageFrame {
  serviceName: string;
  triggerType: 'window' | 'none';
  eventKeys: readonly string[];
}

const LONGEST_DATE = new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999));

/**
 * An upper bound of the JSON bytes of a message part holding only this event: every eventKey with dates and
 * a 9-digit count, a 6-digit part index and count. An event within `maxMessageBytes` by this measure fits
 * in some part of any message, so a split never has to give up on it.
 */
export function soloEventBytes(frame: MessageFrame, event: SyncEvent): number {
  const totals = { FirstEventDate: LONGEST_DATE.toISOString(), lastEventDate: LONGEST_DATE.toISOString(), numberOfEvents: 999_999_999 };
  const part: EventSyncMessage = {
    eventID: 'f'.repeat(32),
    date: LONGEST_DATE.toISOString(),
    serviceName: frame.serviceName,
    triggerType: frame.triggerType,
    events: Object.fromEntries(frame.eventKeys.map((k) => [k, { ...totals, events: k === event.eventKey ? [toMessageEvent(event)] : [] }])),
    part: { index: 999_999, count: 999_999 },
  };
  return byteLength(part) + 1;
}

/**
 * Splits a message whose JSON is larger than `maxBytes` into parts that each fit. Every part keeps
 * the eventID, every eventKey with its totals (FirstEventDate, lastEventDate, numberOfEvents of the
 * whole message) and says `part: { index, count }` (1-based); the events lists are spread over the parts.
 */
export function splitMessage(message: EventSyncMessage, maxBytes: number): EventSyncMessage[] {
  if (byteLength(message) <= maxBytes) return [message];
  const skeleton: EventSyncMessage = {
    ...message,
    events: Object.fromEntries(Object.entries(message.events).map(([k, list]) => [k, { ...list, events: [] }])),
    part: { index: 999_999, count: 999_999 },
  };
  // JSON of a part = skeleton + each event's JSON + one comma per event (an upper bound).
  const budget = maxBytes - byteLength(skeleton);
  const parts: { key: string; event: MessageEvent }[][] = [[]];
  let used = 0;
  for (const [key, list] of Object.entries(message.events)) {
    for (const event of list.events) {
      const size = byteLength(event) + 1;
      if (size > budget) {
        throw new MessageTooLargeError(
          `one "${key}" event alone (${size} bytes) does not fit in target.maxMessageBytes (${maxBytes} bytes); raise maxMessageBytes (and the topic's max.message.bytes) or send smaller events`,
        );
      }
      if (used + size > budget) {
        parts.push([]);
        used = 0;
      }
      parts[parts.length - 1]?.push({ key, event });
      used += size;
    }
  }
  return parts.map((items, i) => ({
    ...message,
    events: Object.fromEntries(
      Object.entries(message.events).map(([k, list]) => [k, { ...list, events: items.filter((it) => it.key === k).map((it) => it.event) }]),
    ),
    part: { index: i + 1, count: parts.length },
  }));
}

/** The Kafka record values for a message: one, several parts (`split`), or a MessageTooLargeError (`reject`). */
export function encodeMessage(message: EventSyncMessage, maxBytes: number, oversize: 'split' | 'reject'): string[] {
  const whole = JSON.stringify(message);
  if (Buffer.byteLength(whole, 'utf8') <= maxBytes) return [whole];
  if (oversize === 'reject') {
    const count = Object.values(message.events).reduce((n, l) => n + l.numberOfEvents, 0);
    throw new MessageTooLargeError(
      `EventSync message ${message.eventID} of "${message.serviceName}" is ${Buffer.byteLength(whole, 'utf8')} bytes (${count} events), over target.maxMessageBytes (${maxBytes}); set target.oversize: split or raise maxMessageBytes`,
    );
  }
  return splitMessage(message, maxBytes).map((part) => JSON.stringify(part));
}
