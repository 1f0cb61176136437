import { redactOptions, redactUri } from './redact.js';

describe('redactUri', () => {
  it('hides the password and keeps user, host and options', () => {
    expect(redactUri('mongodb://alice:s3cr%40t@db1:27017,db2/shop?authSource=admin')).toBe('mongodb://alice:***@db1:27017,db2/shop?authSource=admin');
    expect(redactUri('mongodb+srv://bob:pw@cluster0.example.net')).toBe('mongodb+srv://bob:***@cluster0.example.net');
  });
  it('leaves URIs without a password alone', () => {
    expect(redactUri('mongodb://127.0.0.1:27017/?directConnection=true')).toBe('mongodb://127.0.0.1:27017/?directConnection=true');
    expect(redactUri('mongodb://user@host')).toBe('mongodb://user@host');
    expect(redactUri('not a uri')).toBe('not a uri');
  });
});

describe('redactOptions', () => {
  it('redacts URIs and secret-looking keys at any depth', () => {
    expect(
      redactOptions({ uri: 'redis://u:p@h:6379', db: 'x', headers: { Authorization: 'Bearer abc' }, nested: [{ password: 'x' }], size: 3 }, new Set(['db'])),
    ).toEqual({
      uri: 'redis://u:***@h:6379',
      db: '***',
      headers: { Authorization: '***' },
      nested: [{ password: '***' }],
      size: 3,
    });
  });
});
