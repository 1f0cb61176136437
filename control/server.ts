import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../core/logger.js';
import type { Counter, Histogram } from '../core/metrics.js';
import { toServiceError } from './api-error.js';
import type { Principal, TokenAuthenticator } from './auth.js';
import type { FunctionService } from './function-service.js';
import { loadServices, MAX_MESSAGE_BYTES } from './protos.js';
import type { TriggerService } from './trigger-service.js';

export interface ControlServerOptions {
  triggers: TriggerService;
  functions: FunctionService;
  auth: TokenAuthenticator;
  logger: Logger;
  calls?: Counter<'service' | 'method' | 'code'>;
  latency?: Histogram<'service' | 'method'>;
}

type Handlers = grpc.UntypedServiceImplementation;

/** Binds both control-plane services (TriggerService, FunctionService) on one grpc-js server. Every call is authenticated first. */
export function createControlServer(options: ControlServerOptions): grpc.Server {
  const { TriggerService, FunctionService } = loadServices();
  const { auth, logger } = options;

  const finish = (service: string, method: string, started: number, code: grpc.status, error?: unknown): void => {
    options.calls?.inc({ service, method, code: grpc.status[code] ?? String(code) });
    options.latency?.observe({ service, method }, (performance.now() - started) / 1000);
    if (code === grpc.status.INTERNAL) logger.error({ service, method, err: error }, 'control-plane call failed');
    else if (error) logger.debug({ service, method, code: grpc.status[code] }, 'control-plane call refused');
  };

  const unary =
    (
      service: string,
      method: string,
      handler: (principal: Principal, request: Record<string, unknown>) => Promise<unknown>,
    ): grpc.handleUnaryCall<Record<string, unknown>, unknown> =>
    (call, callback) => {
      const started = performance.now();
      void (async () => {
        try {
          const principal = await auth.authenticate(call.metadata);
          const reply = await handler(principal, call.request);
          finish(service, method, started, grpc.status.OK);
          callback(null, reply);
        } catch (error) {
          const serviceError = toServiceError(error);
          finish(service, method, started, serviceError.code, error);
          callback(serviceError);
        }
      })();
    };

  const stream =
    (
      service: string,
      method: string,
      handler: (principal: Principal, request: Record<string, unknown>) => AsyncIterable<unknown>,
    ): grpc.handleServerStreamingCall<Record<string, unknown>, unknown> =>
    (call) => {
      const started = performance.now();
      void (async () => {
        try {
          const principal = await auth.authenticate(call.metadata);
          for await (const item of handler(principal, call.request)) {
            if (call.cancelled) break;
            if (!call.write(item)) await once(call, 'drain');
          }
          finish(service, method, started, grpc.status.OK);
          call.end();
        } catch (error) {
          const serviceError = toServiceError(error);
          finish(service, method, started, serviceError.code, error);
          call.emit('error', serviceError);
        }
      })();
    };

  const t = options.triggers;
  const triggerHandlers: Handlers = {
    create: unary('trigger', 'create', (p, r) => t.create(p, r)),
    update: unary('trigger', 'update', (p, r) => t.update(p, r)),
    enable: unary('trigger', 'enable', (p, r) => t.setEnabled(p, r, true)),
    disable: unary('trigger', 'disable', (p, r) => t.setEnabled(p, r, false)),
    delete: unary('trigger', 'delete', (p, r) => t.delete(p, r)),
    get: unary('trigger', 'get', (p, r) => t.get(p, r)),
    query: stream('trigger', 'query', (p, r) => t.query(p, r)),
  };
  const f = options.functions;
  const functionHandlers: Handlers = {
    create: unary('function', 'create', (p, r) => f.create(p, r)),
    update: unary('function', 'update', (p, r) => f.update(p, r)),
    delete: unary('function', 'delete', (p, r) => f.delete(p, r)),
    get: unary('function', 'get', (p, r) => f.get(p, r)),
    query: stream('function', 'query', (p, r) => f.query(p, r)),
    execute: unary('function', 'execute', (p, r) => f.execute(p, r)),
  };

  // A function's WebAssembly module may be 8 MiB (MAX_WASM_MODULE_BYTES); grpc-js refuses messages over 4 MiB by default.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES });
  server.addService(TriggerService.service, triggerHandlers);
  server.addService(FunctionService.service, functionHandlers);
  return server;
}

/** Binds `host:port` (port 0 = any free port) and returns the port actually bound. */
export function bindServer(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
}

export function shutdownServer(server: grpc.Server, graceMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
