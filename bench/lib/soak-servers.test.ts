import { skippedFaults, type SoakServers } from './soak-servers.js';

const server = (name: string, pid: number | undefined): { name: string; host: string; port: number; pid: number | undefined } => ({
  name,
  host: '127.0.0.1',
  port: 1,
  pid,
});

function servers(external: boolean, redis = true): SoakServers {
  const pid = external ? undefined : 1;
  return {
    broker: { ...server('broker', pid), brokers: '127.0.0.1:1' },
    a: { ...server('A', pid), uri: 'mongodb://127.0.0.1:1' },
    b: { ...server('B', pid), uri: 'mongodb://127.0.0.1:1' },
    redis: redis ? { ...server('redis', pid), url: 'redis://127.0.0.1:1' } : null,
    stop: async () => undefined,
  };
}

describe('soak servers', () => {
  it('skips nothing on its own servers', () => {
    expect(skippedFaults(servers(false), {})).toEqual([]);
  });

  it("skips kills and pauses of the user's servers, with the flag that named them, but never proxy faults", () => {
    const skipped = skippedFaults(servers(true), { kafka: '127.0.0.1:9092', mongoA: 'mongodb://a', mongoB: 'mongodb://b', redis: 'redis://r' });
    expect(skipped.map((s) => s.kind).sort()).toEqual([
      'a-kill',
      'b-kill',
      'broker-kill',
      'pause-a',
      'pause-b',
      'pause-broker',
      'pause-redis',
      'redis-restart',
    ]);
    expect(skipped.find((s) => s.kind === 'a-kill')?.why).toMatch(/^--mongo-a: a server the soak did not start/);
  });

  it('skips kills of A and B when they keep their data in memory (without --kill-mongo)', () => {
    const skipped = skippedFaults(servers(false), {}, { durableMongo: false });
    expect(skipped.map((s) => s.kind)).toEqual(['a-kill', 'b-kill']);
    expect(skipped[0]?.why).toMatch(/--kill-mongo/);
  });

  it('skips Redis faults when there is no redis-server binary (the machine Redis is not the soak’s)', () => {
    expect(skippedFaults(servers(false, false), {}).map((s) => s.kind)).toEqual(['redis-restart', 'pause-redis']);
  });
});
