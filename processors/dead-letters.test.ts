import { deadLetterRecord, readDeadLetterHeaders, stripDeadLetterHeaders, DLQ_HEADERS } from './dead-letters.js';

const record = {
  topic: 'cf.shop.orders',
  partition: 2,
  offset: '41',
  key: Buffer.from('{"_id":1}'),
  value: Buffer.from('{"v":1}'),
  headers: { op: 'insert', id: 'x' },
  timestamp: 0,
};

describe('dead letters', () => {
  it('keep the original key, value and headers, and name the error, attempts and origin', () => {
    const out = deadLetterRecord('cf.__dlq.t', 't', { record, error: 'boom', errorKind: 'function:runtime', attempts: 6 }, new Date('2026-01-01T00:00:00Z'));
    expect(out).toMatchObject({ topic: 'cf.__dlq.t', key: record.key, value: record.value });
    expect(out.headers).toMatchObject({ op: 'insert', id: 'x', [DLQ_HEADERS.at]: '2026-01-01T00:00:00.000Z' });
    expect(readDeadLetterHeaders(out.headers ?? {})).toEqual({
      error: 'boom',
      errorKind: 'function:runtime',
      attempts: 6,
      topic: 'cf.shop.orders',
      partition: 2,
      offset: '41',
      trigger: 't',
      sink: undefined,
    });
  });

  it('cap the error text and replace the headers of an earlier dead letter', () => {
    const again = { ...record, headers: { ...record.headers, [DLQ_HEADERS.error]: 'old', [DLQ_HEADERS.sink]: 'cache' } };
    const out = deadLetterRecord('cf.__dlq.t', 't', { record: again, error: 'é'.repeat(5000), errorKind: 'sink', attempts: 1 });
    expect(Buffer.byteLength(out.headers?.[DLQ_HEADERS.error] ?? '')).toBeLessThanOrEqual(4100);
    expect(out.headers?.[DLQ_HEADERS.sink]).toBeUndefined();
    expect(stripDeadLetterHeaders(out.headers ?? {})).toEqual(record.headers);
  });
});
