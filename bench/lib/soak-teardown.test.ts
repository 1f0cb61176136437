import { descendants, processTable, Teardown, type TeardownOptions } from './soak-teardown.js';

function harness(graceMs = 1_000): { teardown: Teardown; events: string[]; options: TeardownOptions } {
  const events: string[] = [];
  const options: TeardownOptions = { graceMs, hardKill: () => events.push('hard kill'), exit: (code) => events.push(`exit ${code}`), log: () => undefined };
  return { teardown: new Teardown(options), events, options };
}

describe('soak teardown', () => {
  it('finds children, grandchildren and detached servers by parentage, not other processes', () => {
    // 10 is the soak; 11 the service (its worker 12), 13 a detached broker; 20 and 21 are someone else's.
    const table = new Map([
      [11, 10],
      [12, 11],
      [13, 10],
      [20, 1],
      [21, 20],
      [10, 1],
    ]);
    expect(descendants(10, table).sort()).toEqual([11, 12, 13]);
    expect(descendants(99, table)).toEqual([]);
  });

  it('reads this process as a child of its parent from /proc', () => {
    const table = processTable();
    if (table.size === 0) return; // not Linux
    expect(table.get(process.pid)).toBe(process.ppid);
  });

  it('runs the steps once, newest first, past a failing one', async () => {
    const { teardown, events } = harness();
    teardown.add('work dir', () => void events.push('work dir'));
    teardown.add('servers', async () => {
      events.push('servers');
      await Promise.resolve();
    });
    teardown.add('service', () => {
      throw new Error('already gone');
    });
    await Promise.all([teardown.run(), teardown.run()]);
    await teardown.run();
    expect(events).toEqual(['servers', 'work dir']);
  });

  it('after a signal, kills what the steps left and exits with 128 + the signal number', async () => {
    const { teardown, events } = harness();
    teardown.add('servers', () => void events.push('servers'));
    await teardown.abort('SIGTERM', 143);
    expect(events).toEqual(['servers', 'hard kill', 'exit 143']);
  });

  it('does not wait past the grace time for a step that hangs, and a second signal kills at once', async () => {
    const { teardown, events } = harness(50);
    teardown.add('service', () => new Promise<void>(() => undefined));
    const first = teardown.abort('SIGINT', 130);
    await teardown.abort('SIGINT', 130);
    expect(events).toEqual(['hard kill', 'exit 130']);
    await first;
    expect(events).toEqual(['hard kill', 'exit 130', 'hard kill', 'exit 130']);
  });
});
