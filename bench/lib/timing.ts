/** Collects latency samples (ms) and answers percentiles. */
export class LatencySamples {
  private readonly samples: number[] = [];

  add(ms: number): void {
    this.samples.push(ms);
  }

  get count(): number {
    return this.samples.length;
  }

  /** Nearest-rank percentile, p in [0, 100]; undefined when empty. */
  percentile(p: number): number | undefined {
    if (this.samples.length === 0) return undefined;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[rank];
  }
}

export function nowMs(): number {
  return performance.now();
}

/**
 * Calls `tick(i)` at `ratePerSec` (a fixed offered rate, for latency figures) for `durationMs`,
 * catching up in small bursts when the event loop was late; waits for every tick's promise.
 */
export async function atFixedRate(ratePerSec: number, durationMs: number, tick: (i: number) => Promise<void>): Promise<{ sent: number; seconds: number }> {
  const started = nowMs();
  const pending: Promise<void>[] = [];
  let sent = 0;
  for (;;) {
    const elapsed = nowMs() - started;
    if (elapsed >= durationMs) break;
    const due = Math.floor((elapsed / 1000) * ratePerSec);
    while (sent < due) pending.push(tick(sent++));
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  return { sent, seconds: (nowMs() - started) / 1000 };
}

/** Runs `step` repeatedly, up to `concurrency` at once, until `durationMs` passed; returns what the steps counted. */
export async function forDuration(durationMs: number, concurrency: number, step: () => Promise<number>): Promise<{ events: number; seconds: number }> {
  const started = nowMs();
  let events = 0;
  const worker = async (): Promise<void> => {
    while (nowMs() - started < durationMs) {
      // Not `events += await step()`: that reads `events` before the await and loses other workers' counts.
      const counted = await step();
      events += counted;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { events, seconds: (nowMs() - started) / 1000 };
}

export function rssMiB(): number {
  return Math.round(process.memoryUsage().rss / 1048576);
}
