import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage } from '../../core/errors.js';
import { checkAuth, credentialHeaders } from './auth.js';
import { publicConfig, servicePathPrefix } from './config.js';
import { contentOf } from './content.js';
import type { EventSyncService } from './service.js';

/** Raw request headers as a map of arrays, names as the client sent them (seed: "Content-Type"). */
export function headerMap(rawHeaders: readonly string[], skip: Set<string>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const nameFor = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (skip.has(lower)) continue;
    const key = nameFor.get(lower) ?? name;
    nameFor.set(lower, key);
    (out[key] ??= []).push(rawHeaders[i + 1] as string);
  }
  return out;
}

/** Query string as a map of arrays (`?a=1&a=2` → `{ a: ["1", "2"] }`). */
export function queryMap(url: string): Record<string, string[]> {
  const q = url.indexOf('?');
  const out: Record<string, string[]> = {};
  if (q < 0) return out;
  for (const [key, value] of new URLSearchParams(url.slice(q + 1))) (out[key] ??= []).push(value);
  return out;
}

/**
 * The service's routes under its path prefix, in their own fastify context: every body is taken
 * as raw bytes (the event content), and auth applies to these routes only.
 */
export function registerRoutes(app: FastifyInstance, service: EventSyncService, maxBodyBytes: number): void {
  const { config } = service;
  const prefix = servicePathPrefix(config);
  const skipHeaders = credentialHeaders(config.auth);
  const httpKeys = new Set(config.endpoints.filter((e) => !e.topic).map((e) => e.eventKey));
  const topicOf = new Map(config.endpoints.filter((e) => e.topic).map((e) => [e.eventKey, e.topic as string]));

  void app.register(
    async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void) =>
        done(null, body),
      );

      scope.addHook('onRequest', async (request, reply) => {
        const problem = checkAuth(config.auth, request.headers);
        if (problem) {
          const scheme = config.auth?.type === 'bearer' ? 'Bearer' : 'SharedSecret';
          return reply.code(401).header('www-authenticate', `${scheme} realm="${prefix}"`).send({ error: 'unauthorized', message: problem });
        }
        return undefined;
      });

      scope.setErrorHandler((error: FastifyError, _request, reply) => {
        if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || error.statusCode === 413) {
          return reply.code(413).send({ error: 'payload too large', message: `event body is larger than http.maxBodyBytes (${maxBodyBytes} bytes)` });
        }
        const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
        if (status === 500) scope.log.error({ err: errorMessage(error) }, 'EventSync request failed');
        return reply.code(status).send({ error: status === 500 ? 'internal error' : 'bad request', message: errorMessage(error) });
      });

      scope.post<{ Params: { eventKey: string } }>('/event/:eventKey', async (request, reply) => {
        const { eventKey } = request.params;
        const topic = topicOf.get(eventKey);
        if (topic)
          return reply.code(405).send({ error: 'method not allowed', message: `eventKey "${eventKey}" is fed from Kafka topic "${topic}", not over HTTP` });
        if (!httpKeys.has(eventKey)) {
          return reply.code(404).send({
            error: 'unknown eventKey',
            message: `no endpoint "${eventKey}" in EventSync service "${config.serviceName}"`,
            validEventKeys: [...httpKeys],
          });
        }
        const body = request.body;
        const content = Buffer.isBuffer(body) ? contentOf(body) : { content: typeof body === 'string' ? body : '' };
        const event = service.newEvent(eventKey, {
          headers: headerMap(request.raw.rawHeaders, skipHeaders),
          queryParams: queryMap(request.raw.url ?? ''),
          ...content,
        });
        const oversized = service.oversizedProblem(event);
        if (oversized) return reply.code(413).send({ error: 'payload too large', message: oversized });
        await service.accept([event], 'http');
        return reply.code(200).send({ accepted: true, id: event.id, eventKey, datetime: event.datetime.toISOString() });
      });

      const trigger = async (_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
        const result = await service.manualTrigger();
        if (result.reason === 'rejected') return reply.code(422).send({ error: 'message too large', ...result });
        return reply.code(200).send(result);
      };
      scope.get('/event/trigger', trigger);

      scope.get('/config', async () => publicConfig(config));

      scope.post('/reset', async () => ({ reset: await service.reset() }));

      scope.get('/status', async () => ({ serviceName: config.serviceName, pending: await service.pending() }));
    },
    { prefix },
  );
}
