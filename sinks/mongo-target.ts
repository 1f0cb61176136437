import { MongoClient, type MongoClientOptions } from 'mongodb';
import { Backoff } from '../core/retry.js';
import { isClosedClientError } from '../core/mongo-errors.js';
import { isTransientTargetError } from './mongo-errors.js';
import { InternalError } from '../core/errors.js';

export interface MongoTargetOptions {
  uri: string;
  client: MongoClientOptions;
  /** Backoff of the background reconnect after a failed connect. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Told when a connect attempt fails and when the target answers again. */
  onDown?: (error: unknown) => void;
  onUp?: () => void;
}

/**
 * The MongoClient of one sink target, connected lazily and replaced when it breaks. A MongoClient whose
 * first connect failed is closed for good (every later call: `Topology is closed`), so it is never
 * reused: a failed connect (or a closed-client error from a write) discards it and the next use makes a
 * new one. After a failed connect a background loop keeps trying with backoff, so health turns green
 * as soon as the target is back, even when no write is waiting.
 */
export class MongoTarget {
  private connecting: Promise<MongoClient> | undefined;
  private reconnecting = false;
  private stopped = false;
  private readonly stop$ = new AbortController();

  constructor(private readonly options: MongoTargetOptions) {}

  /** The connected client; rejects (with the driver's error) when the target cannot be reached now. */
  client(): Promise<MongoClient> {
    if (this.stopped) return Promise.reject(new InternalError('the sink is stopped'));
    if (!this.connecting) {
      const client = new MongoClient(this.options.uri, this.options.client);
      const attempt = client.connect().then(
        () => client,
        async (error: unknown) => {
          if (this.connecting === attempt) this.connecting = undefined;
          await client.close().catch(() => undefined);
          throw error;
        },
      );
      this.connecting = attempt;
    }
    return this.connecting;
  }

  /** Connects now; on failure reports it and keeps reconnecting in the background. */
  async connect(): Promise<boolean> {
    try {
      await this.client();
      this.options.onUp?.();
      return true;
    } catch (error) {
      this.options.onDown?.(error);
      this.reconnectInBackground();
      return false;
    }
  }

  /** After a failed operation: a client that can no longer work is dropped so the next call makes a fresh one. */
  failed(error: unknown): void {
    if (!isClosedClientError(error) || !this.connecting) return;
    const dropped = this.connecting;
    this.connecting = undefined;
    void dropped.then((c) => c.close()).catch(() => undefined);
    if (isTransientTargetError(error)) this.reconnectInBackground();
  }

  private reconnectInBackground(): void {
    if (this.reconnecting || this.stopped) return;
    this.reconnecting = true;
    const backoff = new Backoff({ initialDelayMs: this.options.initialDelayMs ?? 500, maxDelayMs: this.options.maxDelayMs ?? 10_000, jitter: 0.2, factor: 2 });
    void (async () => {
      while (!this.stopped) {
        await backoff.wait(this.stop$.signal);
        if (this.stopped) break;
        try {
          await this.client();
          if (!this.stopped) this.options.onUp?.();
          break;
        } catch (error) {
          if (!this.stopped) this.options.onDown?.(error);
        }
      }
      this.reconnecting = false;
    })();
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.stop$.abort();
    const current = this.connecting;
    this.connecting = undefined;
    if (current) await current.then((c) => c.close()).catch(() => undefined);
  }
}
