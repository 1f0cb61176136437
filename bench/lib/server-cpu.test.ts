import { clockTicksPerSecond, cpuTicksOfStat, processCpuSeconds, serverCpuMeter, threadCpuDelta, threadCpuSeconds, threadGroup } from './server-cpu.js';

// A real line (a JVM), fields 14/15 = 4242 / 1717.
const javaStat =
  '31337 (java) S 1 31337 31337 0 -1 4194560 112233 0 12 0 4242 1717 0 0 20 0 57 0 9999 5000000000 80000 18446744073709551615 1 1 0 0 0 0 0 2 16800975 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0';

describe('server CPU from /proc/<pid>/stat', () => {
  it('adds utime and stime', () => {
    expect(cpuTicksOfStat(javaStat)).toBe(4242 + 1717);
  });

  it('counts fields after the last parenthesis, whatever the command name holds', () => {
    const odd = javaStat.replace('(java)', '(a b) c) (d)');
    expect(cpuTicksOfStat(odd)).toBe(4242 + 1717);
  });

  it('refuses a line that is not one', () => {
    expect(() => cpuTicksOfStat('')).toThrow('not a /proc');
    expect(() => cpuTicksOfStat('1 (x) S 1 2')).toThrow('no utime/stime');
  });

  it('reads this process and answers null without a pid', () => {
    expect(clockTicksPerSecond()).toBeGreaterThan(0);
    expect(processCpuSeconds(process.pid)).toBeGreaterThan(0);
    expect(serverCpuMeter(undefined).per1k(1000)).toBeNull();
    const meter = serverCpuMeter(process.pid);
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
    expect(x).toBeGreaterThan(0);
    expect(meter.seconds()).toBeGreaterThanOrEqual(0);
    expect(meter.per1k(0)).toBeNull();
  });

  it('groups JVM threads by name without their number', () => {
    expect(threadGroup('ZWorker#3')).toBe('ZWorker');
    expect(threadGroup('mongo-server-wo')).toBe('mongo-server-wo');
    expect(threadGroup('C2 CompilerThre')).toBe('C2 CompilerThre');
    expect(threadGroup('nioEventLoopGroup-3-12')).toBe('nioEventLoopGroup-3');
    expect(threadDeltaOf()).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
      ]),
    );
    expect([...threadCpuSeconds(process.pid).values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});

function threadDeltaOf(): Map<string, number> {
  return threadCpuDelta(
    new Map([['a', 1]]),
    new Map([
      ['a', 3],
      ['b', 1],
    ]),
  );
}
