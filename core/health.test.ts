import { Health, ownerOfUser } from './health.js';

describe('Health', () => {
  let clock = Date.parse('2026-12-03T10:00:00Z');
  const now = (): Date => new Date(clock);
  const tick = (ms: number): void => {
    clock += ms;
  };

  it('is ready and ok with no components, and while every component works', () => {
    const health = new Health(now);
    expect(health.report()).toEqual({ status: 'ok', ready: true, unready: [], components: {} });
    health.set('source:shop', true, 'streaming');
    health.set('processor:copy', true, undefined, { state: 'disabled' });
    health.set('source:standby', true, 'standby (active: b)', { state: 'standby' });
    expect(health.report()).toMatchObject({ status: 'ok', ready: true, unready: [] });
    expect(health.get('source:shop')).toEqual({ ok: true, state: 'running', owner: 'instance', detail: 'streaming', since: '2026-12-03T10:00:00.000Z' });
  });

  it('is not ready while an instance component starts, retries or has failed, and says which', () => {
    const health = new Health(now);
    health.set('source:a', true, 'starting', { state: 'starting' });
    health.set('sink:t:cache', false, 'Redis down (retrying)');
    health.fail('source:b', 'event of 3,000,100 bytes over maxRecordBytes');
    const report = health.report();
    expect(report).toMatchObject({ status: 'degraded', ready: false, unready: ['source:a', 'sink:t:cache', 'source:b'] });
    expect(report.components['sink:t:cache']).toMatchObject({ ok: false, state: 'retrying' });
    expect(report.components['source:b']).toMatchObject({ ok: false, state: 'failed', owner: 'instance', detail: expect.stringContaining('3,000,100 bytes') });
    // 'starting' is fine for liveness (ok), not for readiness.
    expect(report.components['source:a']?.ok).toBe(true);
  });

  it('lists tenant components, failed or not, without making the instance unready', () => {
    const health = new Health(now);
    health.set('source:config', true, 'streaming');
    health.fail('processor:api.team-b.broken.1', 'cannot run: invalid match', 'tenant:team-b');
    health.set('source:ds-abc', false, 'MongoDB unavailable (retry 2 in 1000 ms)', { owner: 'tenant:team-b' });
    const report = health.report();
    expect(report).toMatchObject({ status: 'degraded', ready: true, unready: [] });
    expect(report.components['processor:api.team-b.broken.1']).toMatchObject({ ok: false, state: 'failed', owner: 'tenant:team-b' });
    expect(health.ready).toBe(true);
    expect(health.ok).toBe(false);
  });

  it('keeps an owner once given, and `since` while the state stays the same', () => {
    const health = new Health(now);
    health.set('sink:t:s', false, 'retry 1 in 200 ms', { owner: 'tenant:a' });
    const since = health.get('sink:t:s')?.since;
    tick(5_000);
    health.set('sink:t:s', false, 'retry 2 in 400 ms');
    expect(health.get('sink:t:s')).toMatchObject({ owner: 'tenant:a', detail: 'retry 2 in 400 ms', since });
    tick(5_000);
    health.set('sink:t:s', true);
    expect(health.get('sink:t:s')).toMatchObject({ ok: true, state: 'running', owner: 'tenant:a', since: new Date(clock).toISOString() });
    health.remove('sink:t:s');
    expect(health.get('sink:t:s')).toBeUndefined();
  });

  it('refuses a state that contradicts ok (a reporting bug, not a health state)', () => {
    const health = new Health(now);
    expect(() => health.set('x', true, undefined, { state: 'failed' })).toThrow(/contradicts/);
    expect(() => health.set('x', false, undefined, { state: 'running' })).toThrow(/contradicts/);
  });

  it('maps control-plane users to owners, admins too: only the config is the instance', () => {
    expect(ownerOfUser('ops')).toBe('tenant:ops');
    expect(ownerOfUser('team-b')).toBe('tenant:team-b');
  });
});
