import { auditCollectionFor, auditCollectionsIn, auditRecordsQuerySchema } from './audit-access.js';

describe('auditCollectionFor', () => {
  it('gives a tenant its own audit log and refuses any other; an admin any, `audit` by default', () => {
    expect(auditCollectionFor({ userId: 'alice', admin: false }, undefined)).toEqual({ collection: 'audit.alice' });
    expect(auditCollectionFor({ userId: 'alice', admin: false }, 'audit.alice')).toEqual({ collection: 'audit.alice' });
    for (const other of ['audit.bob', 'audit', 'tokens'])
      expect(auditCollectionFor({ userId: 'alice', admin: false }, other)).toEqual({
        refusal: expect.stringMatching(/^query\.collection: .*not your audit log/),
      });
    expect(auditCollectionFor({ userId: 'ops', admin: true }, undefined)).toEqual({ collection: 'audit' });
    expect(auditCollectionFor({ userId: 'ops', admin: true }, 'audit.bob')).toEqual({ collection: 'audit.bob' });
  });
});

describe('auditCollectionsIn', () => {
  it('names the collections that have their `_heads` beside them, and the default', () => {
    expect(auditCollectionsIn(['tokens', 'triggers', 'audit.alice', 'audit.alice_heads', 'ledger', 'ledger_heads', 'audit.bob'])).toEqual([
      'audit',
      'audit.alice',
      'ledger',
    ]);
  });
});

describe('auditRecordsQuerySchema', () => {
  it('refuses a heads collection, a bad name and a bad limit, naming the field', () => {
    const paths = auditRecordsQuerySchema.safeParse({ collection: 'audit_heads', limit: '9999' }).error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(['collection', 'limit']);
    expect(auditRecordsQuerySchema.safeParse({ collection: 'a b' }).success).toBe(false);
  });
});
