import { keepDataSource, keepSinkSecrets } from './unredact.js';

describe('keeping secrets a client sends back redacted', () => {
  it('keeps the stored data_source when the redacted form comes back', () => {
    expect(keepDataSource('mongodb://u:***@h/db', 'mongodb://u:pw@h/db')).toBe('mongodb://u:pw@h/db');
    expect(keepDataSource('mongodb://u:new@h/db', 'mongodb://u:pw@h/db')).toBe('mongodb://u:new@h/db');
  });
  it('keeps stored sink secrets, takes new values', () => {
    const stored = [{ name: 'copy', kind: 'mongodb', options: { uri: 'mongodb://u:pw@h', db: 'x', headers: { token: 't1' } } }];
    const incoming = [{ name: 'copy', kind: 'mongodb', options: { uri: 'mongodb://u:***@h', db: 'y', headers: { token: '***' } } }];
    expect(keepSinkSecrets(incoming, stored, () => new Set())).toEqual([
      { name: 'copy', kind: 'mongodb', options: { uri: 'mongodb://u:pw@h', db: 'y', headers: { token: 't1' } } },
    ]);
  });
});
