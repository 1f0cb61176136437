import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Health } from './health.js';
import type { Logger } from './logger.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  health: Health;
  metrics: Registry;
  logger: Logger;
}

/**
 * The service's HTTP server: /healthz (liveness), /readyz (readiness), /metrics, and whatever routes components add
 * (EventSync endpoints) before `listen`.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const loggerInstance: FastifyBaseLogger = options.logger.child({ component: 'http' });
  const app: FastifyInstance = Fastify({
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.maxBodyBytes,
  });
  // Liveness: answering at all means the event loop turns; a failed component is for /readyz and the detail.
  app.get('/healthz', async (_request, reply) => reply.code(200).send(options.health.report()));
  // Readiness: 503 while a component the instance owns is failed, retrying or not started; tenants' components never count.
  app.get('/readyz', async (_request, reply) => {
    const report = options.health.report();
    return reply.code(report.ready ? 200 : 503).send(report);
  });
  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', options.metrics.contentType).send(await options.metrics.metrics());
  });
  return app;
}

/** Starts listening; returns the address actually bound (port 0 picks a free one). */
export async function listen(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return `http://${host}:${boundPort}`;
}
