import { connect, createServer, type Server, type Socket } from 'node:net';
import type { HostPort } from './soak-endpoints.js';

/** How the proxy treats traffic: forward it, cut every connection, swallow it, or pass it on slowly. */
export type ProxyMode = 'pass' | 'drop' | 'blackhole' | 'trickle';

/**
 * A TCP proxy on loopback in front of a server (the soak's own, or one of the user's), for network faults the server itself cannot show:
 * `drop` resets every connection and refuses new ones, `blackhole` keeps connections open but
 * forwards nothing (a partition: clients wait for their timeouts), `trickle` forwards in small
 * chunks with a delay (a congested link).
 */
export class FaultProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private current: ProxyMode = 'pass';
  port = 0;

  constructor(
    private readonly target: HostPort,
    private readonly trickle = { chunkBytes: 512, delayMs: 20 },
  ) {}

  get mode(): ProxyMode {
    return this.current;
  }

  async start(port = 0): Promise<number> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
    return this.port;
  }

  setMode(mode: ProxyMode): void {
    this.current = mode;
    if (mode === 'drop') for (const pair of this.pairs) this.close(pair);
  }

  async stop(): Promise<void> {
    for (const pair of this.pairs) this.close(pair);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: Socket): void {
    if (this.current === 'drop') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(this.target);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = (): void => this.close(pair);
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    this.pipe(client, upstream);
    this.pipe(upstream, client);
  }

  private pipe(from: Socket, to: Socket): void {
    // Bytes held back while blackholed are delivered afterwards, as a healed partition would: TCP keeps them.
    const held: Buffer[] = [];
    let flushing = false;
    const flush = async (): Promise<void> => {
      if (flushing) return;
      flushing = true;
      try {
        while (held.length > 0 && !to.destroyed) {
          if (this.current === 'blackhole') {
            await delay(50);
            continue;
          }
          const chunk = held.shift() as Buffer;
          if (this.current === 'trickle') {
            for (let i = 0; i < chunk.length && !to.destroyed; i += this.trickle.chunkBytes) {
              to.write(chunk.subarray(i, i + this.trickle.chunkBytes));
              await delay(this.trickle.delayMs);
            }
          } else {
            to.write(chunk);
          }
        }
      } finally {
        flushing = false;
      }
    };
    from.on('data', (chunk: Buffer) => {
      if (this.current === 'pass' && held.length === 0 && !flushing) {
        to.write(chunk);
        return;
      }
      held.push(chunk);
      void flush();
    });
  }

  private close(pair: { client: Socket; upstream: Socket }): void {
    if (!this.pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream.destroy();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
