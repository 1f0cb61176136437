import type { BenchRow } from './stage.js';

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Server CPU seconds per 1,000 events: blank for rows that do not load MongoDB, — when its process is not ours. */
function serverCpu(perThousand: number | null | undefined): string {
  if (perThousand === undefined) return '';
  return perThousand === null ? '—' : fmt(perThousand, 3);
}

/** The one table `npm run bench` prints: limits first, each changeflow row with its ratio to its limit. */
export function formatTable(rows: readonly BenchRow[]): string {
  const header = ['stage', 'events/s', 'MB/s', 'p50 ms', 'p99 ms', 'vs limit', 'limit', 'events', 's', 'RSS MiB', 'srv CPU s/1k', 'srv CPU vs limit'];
  const body = rows.map((r) =>
    r.error
      ? [r.name, 'FAILED', '', '', '', '', r.limitName ?? '', '', '', r.error.slice(0, 80), '', '']
      : [
          r.name,
          fmt(r.eventsPerSec),
          fmt(r.mbPerSec, 1),
          fmt(r.p50Ms, 1),
          fmt(r.p99Ms, 1),
          r.ratio === undefined ? '' : `${fmt(r.ratio, 2)}×`,
          r.limitName ?? '',
          fmt(r.events),
          fmt(r.seconds, 1),
          fmt(r.rssMiB),
          serverCpu(r.serverCpuSecPer1k),
          r.serverCpuRatio === undefined ? '' : `${fmt(r.serverCpuRatio, 2)}×`,
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const numeric = new Set([1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}
