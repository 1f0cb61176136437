/**
 * The getMore batch size of a change stream, following the stream's rate: it doubles while reads
 * come back full (a backlog: fewer, larger reads save the server's fixed cost per read) and halves
 * back once they come back well short (a live stream: small reads keep latency and memory low).
 * It stays within [min, max]; the server caps a reply at 16 MiB whatever the size.
 */
export class ReadSizer {
  private current: number;

  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    this.current = min;
  }

  get size(): number {
    return this.current;
  }

  /** Takes how many events the last read returned; returns the size for the next read. */
  observe(events: number): number {
    if (events >= this.current) this.current = Math.min(this.max, this.current * 2);
    else if (events < this.current / 4) this.current = Math.max(this.min, Math.floor(this.current / 2));
    return this.current;
  }
}
