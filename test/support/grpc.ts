import type * as grpc from '@grpc/grpc-js';

/** The error a gRPC call is refused with; throws when the call succeeds. */
export async function refused(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected the call to be refused');
}
