import type { Logger } from '../../core/logger.js';

/** docs/s and ETA from the start of this run (a resumed snapshot counts only what it copies itself). */
export function progressLine(sourceName: string, copied: number, total: number, startedCopied: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? ((copied - startedCopied) * 1000) / elapsedMs : 0;
  const pct = total > 0 ? Math.min(100, (copied / total) * 100) : 0;
  const width = 24;
  const filled = Math.round((pct / 100) * width);
  const eta = rate > 0 && total > copied ? `${Math.ceil((total - copied) / rate)}s` : '-';
  return `snapshot ${sourceName} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct.toFixed(1)}% ${copied}/${total} docs ${Math.round(rate)} docs/s ETA ${eta}`;
}

/**
 * Snapshot progress for a person: a redrawn line when stderr is a terminal, otherwise a log line
 * every few seconds (a redrawn line would flood a log file).
 */
export class SnapshotProgress {
  private readonly startedAt = performance.now();
  private lastShown = 0;
  private readonly tty: boolean;

  constructor(
    private readonly sourceName: string,
    private readonly total: number,
    private readonly startedCopied: number,
    private readonly logger: Logger,
    stream: NodeJS.WriteStream = process.stderr,
    private readonly out: NodeJS.WriteStream = stream,
  ) {
    this.tty = stream.isTTY === true;
  }

  update(copied: number, force = false): void {
    const now = performance.now();
    if (!force && now - this.lastShown < (this.tty ? 250 : 5_000)) return;
    this.lastShown = now;
    const line = progressLine(this.sourceName, copied, this.total, this.startedCopied, now - this.startedAt);
    if (this.tty) this.out.write(`\r${line}\x1b[K`);
    else this.logger.info({ copied, total: this.total }, line);
  }

  done(copied: number): void {
    this.update(copied, true);
    if (this.tty) this.out.write('\n');
  }
}
