import { Int32, MongoNetworkError, MongoServerError, MongoTopologyClosedError } from 'mongodb';
import {
  isConnectivityError,
  isDuplicateKeyError,
  isHistoryLost,
  isMongoError,
  isNotReplicaSet,
  isOperatorError,
  isResumableStreamError,
  isTransientMongoError,
  isUnsupportedCommand,
  serverCode,
} from './mongo-errors.js';

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

  it('reopens a change stream after a lost cursor, not after a bad pipeline', () => {
    expect(isResumableStreamError(serverError('cursor id 7 not found', code(43)))).toBe(true);
    expect(isResumableStreamError(serverError('unknown operator $foo', code(2)))).toBe(false);
  });

  it('knows duplicate keys and credentials an operator must fix', () => {
    expect(serverCode(serverError('E11000 duplicate key', code(11000)))).toBe(11000);
    expect(isDuplicateKeyError(serverError('E11000 duplicate key', code(11000)))).toBe(true);
    expect(isOperatorError(serverError('Authentication failed', code(18)))).toBe(true);
    expect(isOperatorError(serverError('not primary', code(10107)))).toBe(false);
  });
});

describe('driver error classes', () => {
  it('counts network trouble and a closed client as connectivity, which is transient', () => {
    for (const error of [new MongoNetworkError('connect ECONNREFUSED'), new MongoTopologyClosedError()]) {
      expect(isConnectivityError(error)).toBe(true);
      expect(isTransientMongoError(error)).toBe(true);
      expect(isMongoError(error)).toBe(true);
    }
  });

  it('does not take an error that only looks like a server error for a transient one', () => {
    const lookalike = Object.assign(new Error('not primary'), { code: 10107 });
    expect(isTransientMongoError(lookalike)).toBe(false);
    expect(isMongoError(lookalike)).toBe(false);
  });

  it('honours the server saying a change stream must not resume', () => {
    const error = serverError('cursor id 7 not found', 43);
    error.addErrorLabel('NonResumableChangeStreamError');
    expect(isResumableStreamError(error)).toBe(false);
  });
});
