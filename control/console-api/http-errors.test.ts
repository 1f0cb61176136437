import { ValidationError } from '../../core/errors.js';
import { invalidArgument, notFound, permissionDenied, unauthenticated } from '../api-error.js';
import { httpErrorOf } from './http-errors.js';

describe('httpErrorOf', () => {
  it("answers the control plane's refusals under their HTTP statuses, with the control plane's message", () => {
    expect(httpErrorOf(unauthenticated('unknown token'))).toEqual({ statusCode: 401, body: { error: 'unknown token', code: 'UNAUTHENTICATED' } });
    expect(httpErrorOf(permissionDenied('no')).statusCode).toBe(403);
    expect(httpErrorOf(notFound('no trigger')).statusCode).toBe(404);
    expect(httpErrorOf(invalidArgument('params.id: bad')).statusCode).toBe(400);
    expect(httpErrorOf(new ValidationError('no dead-letter topic', { code: 'DLQ_NOT_FOUND' })).statusCode).toBe(409);
  });

  it('hides the details of an unexpected error', () => {
    expect(httpErrorOf(new Error('mongodb://user:secret@host failed'))).toEqual({
      statusCode: 500,
      body: { error: 'internal error (see the server log)', code: 'INTERNAL' },
    });
  });
});
