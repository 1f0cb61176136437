import { describe, expect, it } from '@jest/globals';
import { BSONError } from '../schemas/bson.js';
import {
  MongoBulkWriteError,
  MongoInvalidArgumentError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from 'mongodb';
import { UnavailableError } from '../core/errors.js';
import { isClosedClientError } from '../core/mongo-errors.js';
import { isTransientTargetError } from './mongo-errors.js';
import { InvalidValueError } from '../schemas/value-errors.js';

function serverError(code: number, message = 'refused'): MongoServerError {
  return new MongoServerError({ code, errmsg: message, ok: 0 });
}

describe('MongoDB errors: transient (wait and retry) or not (the records are at fault)', () => {
  it('network trouble, no server, a closed client, elections and timeouts are transient', () => {
    expect(isTransientTargetError(new MongoNetworkError('connect ECONNREFUSED'))).toBe(true);
    expect(isTransientTargetError(new MongoServerSelectionError('Server selection timed out', { type: 'Unknown', servers: new Map() } as never))).toBe(true);
    expect(isTransientTargetError(new MongoTopologyClosedError())).toBe(true);
    expect(isTransientTargetError(serverError(10107, 'not primary'))).toBe(true);
    expect(isTransientTargetError(serverError(91, 'shutting down'))).toBe(true);
    expect(isTransientTargetError(new UnavailableError('down'))).toBe(true);
    // An operator must fix these; the events are not at fault, so they wait instead of being dead-lettered.
    expect(isTransientTargetError(serverError(18, 'Authentication failed'))).toBe(true);
    expect(isTransientTargetError(serverError(13, 'not authorized on shop to execute command'))).toBe(true);
  });

  it('values the driver or server refuses for good are not transient', () => {
    expect(isTransientTargetError(new InvalidValueError('bad'))).toBe(false);
    expect(isTransientTargetError(new RangeError('Maximum call stack size exceeded'))).toBe(false);
    expect(isTransientTargetError(serverError(10334, 'BSONObj size is invalid'))).toBe(false);
    expect(isTransientTargetError(serverError(2, 'unknown operator: $foo'))).toBe(false);
    expect(isTransientTargetError(new BSONError('Document is larger than the maximum size 16777216'))).toBe(false);
    expect(isTransientTargetError(new MongoInvalidArgumentError('Document must be a valid JavaScript object'))).toBe(false);
  });

  it('a bulk write failing per document is not transient, unless a write error is', () => {
    const bulk = (code: number) => new MongoBulkWriteError({ message: 'bulk', code, writeErrors: [{ index: 0, code, errmsg: 'E' }] } as never, {} as never);
    expect(isTransientTargetError(bulk(11000))).toBe(false);
    expect(isTransientTargetError(bulk(11600))).toBe(true);
  });

  it('only closed-client errors make the sink replace its client', () => {
    expect(isClosedClientError(new MongoTopologyClosedError())).toBe(true);
    expect(isClosedClientError(new MongoNetworkError('reset'))).toBe(false);
  });
});
