import type { DemoNames } from './config.js';
import type { DemoSnapshot } from './stats.js';

const WINDOW_MS = 5_000;

/** Per-row rates (per second) over the last few seconds of snapshots. */
export class RateTracker {
  private readonly history: { at: number; totals: Map<string, number> }[] = [];

  add(at: number, totals: Map<string, number>): Map<string, number> {
    this.history.push({ at, totals });
    while (this.history.length > 2 && (this.history[1]?.at ?? at) <= at - WINDOW_MS) this.history.shift();
    const first = this.history[0];
    const rates = new Map<string, number>();
    if (!first || first.at === at) return rates;
    for (const [key, total] of totals) rates.set(key, Math.max(0, (total - (first.totals.get(key) ?? 0)) / ((at - first.at) / 1000)));
    return rates;
  }
}

export interface FrameExtras {
  startedAt: number;
  /** Document counts of the source and the copy collections, when known. */
  docs?: { source: number; copy: number };
  /** Why there is no cache stage (Redis unreachable). */
  redisNote?: string;
  generatorNote?: string;
}

const num = (n: number): string => Math.round(n).toLocaleString('en-US');
const rate = (n: number | undefined): string => (n === undefined ? '' : n.toFixed(1));

function uptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number): string => String(x).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** The totals the rates are computed from, one per table row. */
export function rowTotals(snapshot: DemoSnapshot): Map<string, number> {
  const totals = new Map<string, number>([
    ['generator', snapshot.generator.total],
    ['source', snapshot.source.published],
  ]);
  for (const t of snapshot.triggers) totals.set(`trigger:${t.trigger}`, t.delivered);
  return totals;
}

/** One frame of the live table (lines without trailing newlines). */
export function renderFrame(snapshot: DemoSnapshot, rates: Map<string, number>, names: DemoNames, extras: FrameExtras): string[] {
  const g = snapshot.generator;
  const s = snapshot.source;
  const ops = ['insert', 'update', 'delete'].map((op) => `${op} ${num(g.byOp[op] ?? 0)}`).join(' · ');
  const snapshotNote = s.snapshotTotal > 0 || s.snapshot > 0 ? `snapshot ${num(s.snapshotCopied)}/${num(Math.max(s.snapshotTotal, s.snapshotCopied))}` : '';
  const rows: string[][] = [
    ['stage', 'flow', 'total', '/s', 'lag', 'detail'],
    [
      'generator',
      `writes → ${names.db}.${names.coll}`,
      num(g.total),
      rate(rates.get('generator')),
      '',
      extras.generatorNote ? `${ops} · ${extras.generatorNote}` : ops,
    ],
    [
      'source',
      `${names.db}.${names.coll} → ${names.topic}`,
      num(s.published),
      rate(rates.get('source')),
      `${s.lagSeconds.toFixed(1)} s`,
      [s.active ? '' : 'standby (waiting for the lease)', snapshotNote].filter(Boolean).join(' · '),
    ],
  ];
  for (const t of snapshot.triggers) {
    const outcome =
      t.trigger === names.auditTrigger
        ? `recorded ${num(t.written)} · ${num(t.filtered)} non-deletes filtered`
        : `written ${num(t.written)} · skipped ${num(t.skipped)}`;
    const problems = [t.rejected > 0 ? `rejected ${num(t.rejected)}` : '', t.running ? '' : 'not running'].filter(Boolean);
    rows.push([
      `trigger ${t.trigger}`,
      `→ ${t.target}`,
      num(t.delivered),
      rate(rates.get(`trigger:${t.trigger}`)),
      num(t.lag),
      [outcome, ...problems].join(' · '),
    ]);
  }
  rows.push([
    'dead letters',
    `${names.topic.split('.')[0] ?? 'changeflow'}.__dlq.<trigger>`,
    num(snapshot.deadLetters),
    '',
    '',
    snapshot.deadLetters > 0 ? 'npx changeflow dlq status <trigger> shows why' : '',
  ]);

  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const right = new Set([2, 3, 4]);
  const lines = rows.map((r) =>
    `  ${r.map((cell, i) => (i === r.length - 1 ? cell : right.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd(),
  );
  const clock = new Date(snapshot.at).toTimeString().slice(0, 8);
  const note = (label: string, text: string): string => `  ${label.padEnd(widths[0] ?? 0)}  ${text}`;
  const out = [`changeflow dev · demo pipeline · up ${uptime(snapshot.at - extras.startedAt)} · ${clock}`, ...lines];
  if (extras.redisNote) out.push(note('cache', extras.redisNote));
  if (extras.docs) {
    const { source, copy } = extras.docs;
    out.push(
      note('documents', `${names.db}.${names.coll} ${num(source)} · ${names.copyDb}.${names.coll} ${num(copy)}${source === copy ? ' (same count)' : ''}`),
    );
  }
  out.push(note('health', snapshot.unhealthy.length === 0 ? 'ok' : `degraded: ${snapshot.unhealthy.map((u) => `${u.component}: ${u.detail}`).join('; ')}`));
  return out;
}

/** The one-line form for a non-terminal stdout (CI logs, tests): every few seconds. */
export function renderLine(snapshot: DemoSnapshot, rates: Map<string, number>, extras: FrameExtras): string {
  const parts = [
    `generator ${num(snapshot.generator.total)} (${rate(rates.get('generator') ?? 0)}/s)`,
    `source ${num(snapshot.source.published)} (lag ${snapshot.source.lagSeconds.toFixed(1)} s)`,
    ...snapshot.triggers.map((t) => `${t.trigger} ${num(t.delivered)} (lag ${num(t.lag)})`),
    `dlq ${num(snapshot.deadLetters)}`,
  ];
  if (extras.docs) parts.push(`docs ${num(extras.docs.source)}/${num(extras.docs.copy)}`);
  parts.push(snapshot.unhealthy.length === 0 ? 'health ok' : `health degraded (${snapshot.unhealthy.map((u) => u.component).join(', ')})`);
  return `[demo] ${parts.join(' · ')}`;
}

export interface LiveViewOptions {
  read: () => Promise<DemoSnapshot>;
  extras: () => Promise<Omit<FrameExtras, 'startedAt'>>;
  names: DemoNames;
  out: NodeJS.WriteStream;
  /** Redraw in place (a terminal) or print a line every `lineEveryMs`. */
  tty: boolean;
  refreshMs?: number;
  lineEveryMs?: number;
}

/** Redraws the table in place about once a second on a terminal; elsewhere prints a line every few seconds. */
export class LiveView {
  private readonly rates = new RateTracker();
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private drawn = 0;
  private lastLine = 0;
  private busy = false;
  lastFrame: string[] = [];

  constructor(private readonly options: LiveViewOptions) {}

  start(): void {
    const every = this.options.refreshMs ?? 1_000;
    this.timer = setInterval(() => void this.tick(), every);
    void this.tick();
  }

  /** Stops redrawing; draws one last frame (or line) so the final counts stay on screen. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    await this.tick(true);
  }

  private async tick(final = false): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const snapshot = await this.options.read();
      const extras = { ...(await this.options.extras().catch(() => ({}))), startedAt: this.startedAt };
      const rates = this.rates.add(snapshot.at, rowTotals(snapshot));
      this.lastFrame = renderFrame(snapshot, rates, this.options.names, extras);
      if (this.options.tty) {
        const clear = this.drawn > 0 ? `\x1b[${this.drawn}A\x1b[0J` : '';
        this.options.out.write(`${clear}${this.lastFrame.join('\n')}\n`);
        this.drawn = this.lastFrame.length;
      } else if (final || snapshot.at - this.lastLine >= (this.options.lineEveryMs ?? 5_000)) {
        this.lastLine = snapshot.at;
        this.options.out.write(`${renderLine(snapshot, rates, extras)}\n`);
      }
    } catch {
      // A registry read never fails in practice; a failed document count only leaves its line out.
    } finally {
      this.busy = false;
    }
  }
}
