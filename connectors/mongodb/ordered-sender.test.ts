import { OrderedSender } from './ordered-sender.js';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const record = { topic: 't', key: 'k', value: 'v' };

describe('OrderedSender', () => {
  it('acknowledges a position only after every earlier batch is acknowledged', async () => {
    const sends = [deferred(), deferred(), deferred()];
    let n = 0;
    const acked: number[] = [];
    const sender = new OrderedSender<number>(
      () => sends[n++]!.promise,
      5,
      (p) => acked.push(p),
    );
    await sender.submit([record], 1);
    await sender.submit([record], 2);
    await sender.submit([record], 3);
    expect(sender.inFlight).toBe(3);
    sends[1]!.resolve();
    sends[2]!.resolve();
    await new Promise((r) => setImmediate(r));
    expect(acked).toEqual([]);
    sends[0]!.resolve();
    await sender.drain();
    expect(acked).toEqual([1, 2, 3]);
  });

  it('keeps at most maxInFlight sends outstanding', async () => {
    const sends = [deferred(), deferred(), deferred()];
    let n = 0;
    const sender = new OrderedSender<number>(
      () => sends[n++]!.promise,
      2,
      () => undefined,
    );
    await sender.submit([record], 1);
    await sender.submit([record], 2);
    let third = false;
    const pending = sender.submit([record], 3).then(() => (third = true));
    await new Promise((r) => setImmediate(r));
    expect(third).toBe(false);
    sends[0]!.resolve();
    await pending;
    expect(n).toBe(3);
    sends[1]!.resolve();
    sends[2]!.resolve();
    await sender.drain();
  });

  it('waits (without spinning) when later sends finish before the first one in a full window', async () => {
    const sends = [deferred(), deferred(), deferred()];
    let n = 0;
    const acked: number[] = [];
    const sender = new OrderedSender<number>(
      () => sends[n++]!.promise,
      2,
      (p) => acked.push(p),
    );
    await sender.submit([record], 1);
    await sender.submit([record], 2);
    sends[1]!.resolve();
    let third = false;
    const pending = sender.submit([record], 3).then(() => (third = true));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(third).toBe(false);
    sends[0]!.resolve();
    await pending;
    expect(acked).toEqual([1, 2]);
    sends[2]!.resolve();
    await sender.drain();
    expect(acked).toEqual([1, 2, 3]);
  });

  it('never acknowledges past a failed batch, and reports the failure', async () => {
    const sends = [deferred(), deferred()];
    let n = 0;
    const acked: number[] = [];
    const sender = new OrderedSender<number>(
      () => sends[n++]!.promise,
      5,
      (p) => acked.push(p),
    );
    await sender.submit([record], 1);
    await sender.submit([record], 2);
    sends[0]!.reject(new Error('broker down'));
    sends[1]!.resolve();
    await expect(sender.drain()).rejects.toThrow('broker down');
    await expect(sender.submit([record], 3)).rejects.toThrow('broker down');
    expect(acked).toEqual([]);
  });

  it('orders empty (heartbeat) batches behind the ones in flight', async () => {
    const first = deferred();
    const acked: string[] = [];
    const sender = new OrderedSender<string>(
      () => first.promise,
      5,
      (p) => acked.push(p),
    );
    await sender.submit([record], 'a');
    await sender.submit([], 'heartbeat');
    await new Promise((r) => setImmediate(r));
    expect(acked).toEqual([]);
    first.resolve();
    await sender.drain();
    expect(acked).toEqual(['a', 'heartbeat']);
  });
});
