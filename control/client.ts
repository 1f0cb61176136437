import * as grpc from '@grpc/grpc-js';
import { loadServices, MAX_MESSAGE_BYTES } from './protos.js';
import { InternalError } from '../core/errors.js';

export type ServiceName = 'triggers' | 'functions';

/** A thin promise-based client of both services, sending `authorization: Bearer <token>` on every call. */
export class ControlClient {
  private readonly clients: Record<ServiceName, grpc.Client & Record<string, unknown>>;

  constructor(
    readonly address: string,
    private readonly token: string | undefined,
    options: { deadlineMs?: number } = {},
  ) {
    const { TriggerService, FunctionService } = loadServices();
    const credentials = grpc.credentials.createInsecure();
    const sizes = { 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES };
    this.clients = {
      triggers: new TriggerService(address, credentials, sizes) as grpc.Client & Record<string, unknown>,
      functions: new FunctionService(address, credentials, sizes) as grpc.Client & Record<string, unknown>,
    };
    this.deadlineMs = options.deadlineMs ?? 15_000;
  }

  private readonly deadlineMs: number;

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.token) metadata.set('authorization', `Bearer ${this.token}`);
    return metadata;
  }

  private method(service: ServiceName, name: string): (...args: unknown[]) => unknown {
    const client = this.clients[service];
    const fn = client[name];
    if (typeof fn !== 'function') throw new InternalError(`${service} has no method ${name}`);
    return (fn as (...args: unknown[]) => unknown).bind(client);
  }

  call<T = Record<string, unknown>>(service: ServiceName, name: string, request: object): Promise<T> {
    const fn = this.method(service, name);
    return new Promise((resolve, reject) => {
      fn(request, this.metadata(), { deadline: Date.now() + this.deadlineMs }, (error: grpc.ServiceError | null, reply: T) =>
        error ? reject(error) : resolve(reply),
      );
    });
  }

  /** Collects a server stream (`query`). */
  stream<T = Record<string, unknown>>(service: ServiceName, name: string, request: object): Promise<T[]> {
    const fn = this.method(service, name);
    return new Promise((resolve, reject) => {
      const items: T[] = [];
      const call = fn(request, this.metadata(), { deadline: Date.now() + this.deadlineMs }) as grpc.ClientReadableStream<T>;
      call.on('data', (item: T) => items.push(item));
      call.on('error', reject);
      call.on('end', () => resolve(items));
    });
  }

  close(): void {
    this.clients.triggers.close();
    this.clients.functions.close();
  }
}
