import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Health } from '../../core/health.js';
import type { KafkaTransport } from '../../core/kafka/index.js';
import type { TopicNames } from '../../core/topics.js';
import { notFound, permissionDenied } from '../api-error.js';
import type { Principal } from '../auth.js';
import { parseAt, type ConsoleRoute } from './browse-shared.js';
import { readTopic } from './topic-reader.js';
import { sourcePageView, sourceVisible, type SourcePageView } from './source-view.js';

export interface SourceRouteDeps {
  kafka: KafkaTransport;
  topics: TopicNames;
  health: Health;
  metrics: Registry;
}

const nameParams = z.object({ name: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, { error: 'a source name (letters, digits, ".", "_" or "-")' }) });

/** The newest stored position per source name (the offsets topic is compacted; the last value per key wins). */
async function storedPositions(deps: SourceRouteDeps): Promise<Map<string, string>> {
  const positions = new Map<string, string>();
  for (const record of await readTopic(deps.kafka, deps.topics.offsets())) {
    const name = record.key?.toString('utf8');
    if (name === undefined) continue;
    if (record.value === null) positions.delete(name);
    else positions.set(name, record.value.toString('utf8'));
  }
  return positions;
}

async function snapshotTotals(metrics: Registry): Promise<Map<string, number>> {
  const metric = metrics.getSingleMetric('changeflow_source_snapshot_documents_total');
  const totals = new Map<string, number>();
  for (const sample of metric ? (await metric.get()).values : []) {
    const source = sample.labels['source'];
    if (typeof source === 'string') totals.set(source, sample.value);
  }
  return totals;
}

/** Every source the caller may see: those reporting health in this process and those with a stored position. */
async function sourcesFor(principal: Principal, deps: SourceRouteDeps): Promise<SourcePageView[]> {
  const components = deps.health.report().components;
  const [positions, totals] = await Promise.all([storedPositions(deps), snapshotTotals(deps.metrics)]);
  const names = new Set([
    ...Object.keys(components)
      .filter((c) => c.startsWith('source:'))
      .map((c) => c.slice('source:'.length)),
    ...positions.keys(),
  ]);
  return [...names]
    .filter((name) => sourceVisible(principal, name, components[`source:${name}`]))
    .sort()
    .map((name) => sourcePageView(name, components[`source:${name}`], positions.get(name), totals.get(name)));
}

/** GET /api/sources and /api/sources/:name: positions, checkpoint age, snapshot progress, history lost. */
export function registerSourceRoutes(http: FastifyInstance, route: ConsoleRoute, deps: SourceRouteDeps): void {
  http.get(
    '/api/sources',
    route(async (principal) => ({ at: new Date().toISOString(), sources: await sourcesFor(principal, deps) })),
  );
  http.get(
    '/api/sources/:name',
    route(async (principal, request) => {
      const { name } = parseAt(nameParams, request.params, 'params');
      // Decided from the name alone before anything is read, so a refusal says nothing about whether the source exists.
      if (!sourceVisible(principal, name, deps.health.report().components[`source:${name}`]))
        throw permissionDenied(`params.name: "${name}" is not one of your sources (you see the sources of your own data_sources only)`);
      const found = (await sourcesFor(principal, deps)).find((s) => s.name === name);
      if (!found) throw notFound(`no source "${name}"`);
      return { source: found };
    }),
  );
}
