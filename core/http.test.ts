import { Health } from './health.js';
import { createHttpServer } from './http.js';
import { silentLogger } from './logger.js';
import { counter, createMetricsRegistry } from './metrics.js';

describe('HTTP server', () => {
  const health = new Health();
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const app = createHttpServer({ host: '127.0.0.1', port: 0, maxBodyBytes: 1024, health, metrics, logger: silentLogger });
  afterAll(() => app.close());

  it('/healthz is liveness: 200 with the detail, also while a component has failed', async () => {
    health.set('source:shop', true);
    const ok = await app.inject({ method: 'GET', url: '/healthz' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ status: 'ok', ready: true });

    health.set('sink:orders-cache:cache', false, 'Redis at 127.0.0.1:6379 unreachable (retrying)');
    const bad = await app.inject({ method: 'GET', url: '/healthz' });
    expect(bad.statusCode).toBe(200);
    expect(bad.json()).toMatchObject({
      status: 'degraded',
      ready: false,
      components: { 'sink:orders-cache:cache': { ok: false, state: 'retrying', detail: expect.stringContaining('Redis') } },
    });
    health.remove('sink:orders-cache:cache');
  });

  it("/readyz is 503 naming the instance component that fails, 200 when only a tenant's does", async () => {
    health.fail('source:big', 'source "big": change 1 is 3,000,100 bytes, more than maxRecordBytes (1,000,000)');
    const unready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(unready.statusCode).toBe(503);
    expect(unready.json()).toMatchObject({
      ready: false,
      unready: ['source:big'],
      components: { 'source:big': { ok: false, state: 'failed', owner: 'instance' } },
    });
    health.remove('source:big');

    health.fail('processor:api.team-b.x.1', 'cannot run: invalid match', 'tenant:team-b');
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'degraded',
      ready: true,
      unready: [],
      components: { 'processor:api.team-b.x.1': { state: 'failed', owner: 'tenant:team-b' } },
    });
    health.remove('processor:api.team-b.x.1');
  });

  it('serves registered metrics in Prometheus text format', async () => {
    counter(metrics, 'changeflow_test_events_total', 'events seen by the test', ['source']).inc({ source: 'shop' }, 3);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.body).toContain('changeflow_test_events_total{source="shop"} 3');
  });

  it('reuses a metric registered twice instead of throwing', () => {
    const a = counter(metrics, 'changeflow_test_twice_total', 'x');
    const b = counter(metrics, 'changeflow_test_twice_total', 'x');
    expect(a).toBe(b);
  });
});
