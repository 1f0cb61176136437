import { Health } from './health.js';
import { createHttpServer } from './http.js';
import { silentLogger } from './logger.js';
import { counter, createMetricsRegistry } from './metrics.js';

describe('HTTP server', () => {
  const health = new Health();
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const app = createHttpServer({ host: '127.0.0.1', port: 0, maxBodyBytes: 1024, health, metrics, logger: silentLogger });
  afterAll(() => app.close());

  it('reports healthy, then names the failing component with 503', async () => {
    health.set('source:shop', true);
    const ok = await app.inject({ method: 'GET', url: '/healthz' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ status: 'ok' });

    health.set('sink:orders-cache:cache', false, 'Redis at 127.0.0.1:6379 unreachable (retrying)');
    const bad = await app.inject({ method: 'GET', url: '/healthz' });
    expect(bad.statusCode).toBe(503);
    expect(bad.json()).toMatchObject({ status: 'degraded', components: { 'sink:orders-cache:cache': { ok: false, detail: expect.stringContaining('Redis') } } });
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
