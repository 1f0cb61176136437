import { Int32, MongoServerError } from 'mongodb';
import { isHistoryLost, isNotReplicaSet, isTransientMongoError, isUnsupportedCommand } from './mongo-errors.js';

/** A server error as the driver builds it; `code` as a number or, read with promoteValues: false, as an Int32. */
const serverError = (message: string, code: number | Int32, codeName?: string): MongoServerError =>
  new MongoServerError({ ok: 0, errmsg: message, code: code as number, ...(codeName ? { codeName } : {}) });

describe.each([
  ['a number', (n: number): number | Int32 => n],
  ['a BSON Int32 (promoteValues: false)', (n: number): number | Int32 => new Int32(n)],
])('server error classes when the code is %s', (_, code) => {
  it('knows a whole-cluster watch the server cannot run', () => {
    expect(isUnsupportedCommand(serverError("no such command: 'aggregate'", code(59)))).toBe(true);
    expect(isUnsupportedCommand(serverError('duplicate key', code(11000)))).toBe(false);
  });

  it('knows lost change history', () => {
    expect(isHistoryLost(serverError('Executor error during getMore', code(286)))).toBe(true);
    expect(isHistoryLost(serverError('boom', code(2)))).toBe(false);
  });

  it('knows a standalone server', () => {
    expect(isNotReplicaSet(serverError('The $changeStream stage is only supported on replica sets', code(40573)))).toBe(true);
  });

  it('retries elections and shutdowns, not bad requests', () => {
    expect(isTransientMongoError(serverError('not primary', code(10107)))).toBe(true);
    expect(isTransientMongoError(serverError('bad value', code(2)))).toBe(false);
  });
});
