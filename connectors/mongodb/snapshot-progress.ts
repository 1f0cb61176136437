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

/** One range being copied, for the progress display. */
export interface RangeProgress {
  name: string;
  copied: number;
  /** Estimated documents in the range (its collection's estimate over its ranges). */
  total: number;
}

/** `db.coll[from, until) 1200/5000 (24%)`: one range's progress. */
export function rangeLine(range: RangeProgress): string {
  const pct = range.total > 0 ? Math.min(100, (range.copied / range.total) * 100) : 0;
  return `${range.name} ${range.copied}/${range.total} (${pct.toFixed(0)}%)`;
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

  /** The overall total, and each range being copied (its own log line, or a part of the redrawn one). */
  update(copied: number, active: readonly RangeProgress[] = [], force = false): void {
    const now = performance.now();
    if (!force && now - this.lastShown < (this.tty ? 250 : 5_000)) return;
    this.lastShown = now;
    const line = progressLine(this.sourceName, copied, this.total, this.startedCopied, now - this.startedAt);
    if (this.tty) {
      this.out.write(`\r${[line, ...active.map(rangeLine)].join(' | ')}\x1b[K`);
      return;
    }
    this.logger.info({ copied, total: this.total }, line);
    for (const range of active)
      this.logger.info({ range: range.name, copied: range.copied, total: range.total }, `snapshot ${this.sourceName} range ${rangeLine(range)}`);
  }

  done(copied: number): void {
    this.update(copied, [], true);
    if (this.tty) this.out.write('\n');
  }
}
