import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { servicePathPrefix } from '../../connectors/eventsync/config.js';
import type { EventSyncService } from '../../connectors/eventsync/service.js';
import { notFound, permissionDenied } from '../api-error.js';
import type { Principal } from '../auth.js';
import { parseAt, type ConsoleRoute } from './browse-shared.js';

/** One EventSync service as the console shows it: never its credentials (auth is named by type only). */
export interface EventSyncView {
  serviceName: string;
  pathPrefix: string;
  trigger: unknown;
  auth: 'bearer' | 'sharedSecret' | null;
  targetTopic: string;
  endpoints: { eventKey: string; via: 'http' | 'kafka'; topic: string | null; pending: number }[];
}

const serviceParams = z.object({
  service: z.string().min(1).max(200, { error: 'an EventSync serviceName, as GET /api/eventsync lists them' }),
});

function adminOnly(principal: Principal): void {
  if (!principal.admin)
    throw permissionDenied("EventSync services are the operator's (changeflow.yaml's eventsync:): only an admin may see, trigger or reset them");
}

async function viewOf(service: EventSyncService): Promise<EventSyncView> {
  const { config } = service;
  const pending = await service.pending();
  return {
    serviceName: config.serviceName,
    pathPrefix: servicePathPrefix(config),
    trigger: config.trigger,
    auth: config.auth?.type ?? null,
    targetTopic: config.target.topic,
    endpoints: config.endpoints.map((e) => ({
      eventKey: e.eventKey,
      via: e.topic ? 'kafka' : 'http',
      topic: e.topic ?? null,
      pending: pending[e.eventKey] ?? 0,
    })),
  };
}

/**
 * The EventSync page's API, for admins: each service's endpoints and unexported events per key, a
 * manual trigger and a reset, through the same service methods as the service's own
 * `/event/trigger` and `/reset` routes.
 */
export function registerEventSyncRoutes(http: FastifyInstance, route: ConsoleRoute, services: () => readonly EventSyncService[]): void {
  const serviceOf = (params: unknown): EventSyncService => {
    const { service } = parseAt(serviceParams, params, 'params');
    const found = services().find((s) => s.config.serviceName === service);
    if (!found)
      throw notFound(
        `params.service: no EventSync service "${service}" runs in this process (known: ${
          services()
            .map((s) => `"${s.config.serviceName}"`)
            .join(', ') || 'none'
        })`,
      );
    return found;
  };

  http.get(
    '/api/eventsync',
    route(async (principal) => {
      adminOnly(principal);
      return { services: await Promise.all(services().map(viewOf)) };
    }),
  );
  http.post(
    '/api/eventsync/:service/trigger',
    route(async (principal, request) => {
      adminOnly(principal);
      return { result: await serviceOf(request.params).manualTrigger() };
    }),
  );
  http.post(
    '/api/eventsync/:service/reset',
    route(async (principal, request) => {
      adminOnly(principal);
      return { reset: await serviceOf(request.params).reset() };
    }),
  );
}
