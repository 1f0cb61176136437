import type { OutgoingRecord } from '../../core/kafka/transport.js';

interface InFlight<P> {
  position: P;
  settled: boolean;
  failed: boolean;
  promise: Promise<void>;
}

/**
 * Pipelined sends with an in-order acknowledgement frontier: up to `maxInFlight` batches await
 * their acks at once, and `onAcked(position)` is called only for a batch whose every predecessor
 * was acknowledged too. After a failure nothing more is acknowledged; the caller restarts from the
 * last acknowledged position (repeats, never gaps).
 */
export class OrderedSender<P> {
  private readonly queue: InFlight<P>[] = [];
  private failure: unknown = null;

  constructor(
    private readonly send: (records: readonly OutgoingRecord[]) => Promise<unknown>,
    private readonly maxInFlight: number,
    private readonly onAcked: (position: P) => void,
  ) {}

  get inFlight(): number {
    return this.queue.length;
  }

  /** Starts sending `records`; waits only while the window is full. Throws the first failure of any earlier batch. */
  async submit(records: readonly OutgoingRecord[], position: P): Promise<void> {
    this.throwIfFailed();
    while (this.queue.length >= this.maxInFlight) {
      await this.nextSettlement();
      this.throwIfFailed();
    }
    const entry: InFlight<P> = { position, settled: false, failed: false, promise: Promise.resolve() };
    entry.promise = (records.length === 0 ? Promise.resolve() : this.send(records)).then(
      () => {
        entry.settled = true;
        this.advance();
      },
      (error: unknown) => {
        entry.settled = true;
        entry.failed = true;
        this.failure ??= error;
      },
    );
    this.queue.push(entry);
  }

  /** Waits for every batch in flight; throws the first failure. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 && this.failure === null) {
      await this.nextSettlement();
    }
    this.throwIfFailed();
  }

  /** Waits for every batch in flight to settle, failed or not (before a restart). */
  async settle(): Promise<void> {
    await Promise.all(this.queue.map((entry) => entry.promise));
  }

  /** Waits for one more send to settle. Only unsettled ones count: racing a settled promise would spin. */
  private async nextSettlement(): Promise<void> {
    const pending = this.queue.filter((entry) => !entry.settled).map((entry) => entry.promise);
    if (pending.length > 0) await Promise.race(pending);
  }

  private advance(): void {
    // Every batch, in order (not only the newest): the caller counts each batch's events when it is acknowledged.
    while (this.queue[0]?.settled && !this.queue[0].failed) this.onAcked((this.queue.shift() as InFlight<P>).position);
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }
}
