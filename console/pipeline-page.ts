import { refreshing } from './refresh.js';
import { api, type Pipeline, type PipelineTrigger } from './api.js';
import { el, replaceChildren } from './dom.js';

const REFRESH_MS = 2_000;
const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 160;
const HEIGHT = 28;

type TrendPoint = PipelineTrigger['trend'][number];

/** How a series moved over the trend: the newest value against the oldest. */
function direction(values: readonly number[]): string {
  const first = values[0] ?? 0;
  const last = values.at(-1) ?? 0;
  if (values.length < 2 || Math.abs(last - first) < 0.05 * Math.max(first, last, 1)) return 'steady';
  return last > first ? 'rising' : 'falling';
}

/** A small line chart of one series, built with DOM calls (never markup); its label says what it shows in words. */
function sparkline(name: string, field: 'secondsBehind' | 'eventsPerSecond', unit: string, points: readonly TrendPoint[]): Element {
  const values = points.map((p) => p[field]);
  const minutes = points.length < 2 ? 0 : (Date.parse(points.at(-1)?.at ?? '') - Date.parse(points[0]?.at ?? '')) / 60_000;
  const label = `${name}: ${(values.at(-1) ?? 0).toFixed(1)} ${unit}, ${direction(values)} over ${minutes < 1 ? `${Math.round(minutes * 60)} s` : `${minutes.toFixed(1)} min`}`;
  const svg = document.createElementNS(SVG, 'svg');
  for (const [k, v] of Object.entries({
    width: String(WIDTH),
    height: String(HEIGHT),
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': label,
    class: `spark ${field}`,
  }))
    svg.setAttribute(k, v);
  const title = document.createElementNS(SVG, 'title');
  title.textContent = label;
  svg.append(title);
  if (values.length >= 2) {
    const max = Math.max(...values, 0.001);
    const line = document.createElementNS(SVG, 'polyline');
    const xy = values.map((v, i) => `${((i / (values.length - 1)) * WIDTH).toFixed(1)},${(HEIGHT - 2 - (v / max) * (HEIGHT - 4)).toFixed(1)}`);
    line.setAttribute('points', xy.join(' '));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', 'currentColor');
    line.setAttribute('stroke-width', '1.5');
    svg.append(line);
  }
  return el('div', { class: 'trend' }, svg, el('div', { class: 'muted', 'data-field': `trend-${field}` }, label));
}

function stateClass(item: { ok: boolean; state: string }): string {
  if (!item.ok) return 'node failed';
  return item.state === 'disabled' ? 'node disabled' : 'node';
}

function reasonOf(item: { ok: boolean; reason: string | null }): Node | null {
  return item.reason ? el('div', { class: item.ok ? 'reason' : 'reason failed-reason' }, item.reason) : null;
}

function triggerRow(t: PipelineTrigger): HTMLElement {
  return el(
    'div',
    { class: 'flow', 'data-trigger': t.name },
    el('div', { class: 'node topic' }, el('div', { class: 'label' }, 'topic'), t.topic ?? '—'),
    el('div', { class: 'edge' }, '→'),
    el(
      'div',
      { class: `${stateClass(t)} trigger` },
      el('div', { class: 'label' }, `trigger · ${t.userId}`),
      el('div', { class: 'name' }, t.name),
      el('div', { class: 'state', 'data-field': 'state' }, t.state),
      el(
        'dl',
        {},
        el('dt', {}, 'events/s'),
        el('dd', { 'data-field': 'rate' }, t.eventsPerSecond.toFixed(1)),
        el('dt', {}, 'delivered'),
        el('dd', { 'data-field': 'delivered' }, t.delivered),
        el('dt', {}, 'lag'),
        el('dd', { 'data-field': 'lag' }, `${t.lag} records · ${t.secondsBehind.toFixed(1)} s`),
        el('dt', {}, 'dead letters'),
        el('dd', { 'data-field': 'dlq' }, t.deadLettered),
      ),
      sparkline('lag', 'secondsBehind', 's', t.trend),
      sparkline('events/s', 'eventsPerSecond', '/s', t.trend),
      reasonOf(t),
    ),
    el('div', { class: 'edge' }, '→'),
    el('div', { class: 'sinks' }, ...t.sinks.map((s) => el('div', { class: 'node sink' }, el('div', { class: 'label' }, s.kind), s.name))),
  );
}

function render(main: HTMLElement, pipeline: Pipeline): void {
  replaceChildren(
    main,
    el('h1', {}, 'Pipeline'),
    el('p', { class: 'muted' }, `updated ${new Date(pipeline.at).toLocaleTimeString()} · every ${REFRESH_MS / 1000} s`),
    el('h2', {}, 'Sources'),
    pipeline.sources.length === 0
      ? el('p', { class: 'muted' }, 'no sources run for you in this process')
      : el(
          'div',
          { class: 'sources' },
          ...pipeline.sources.map((s) =>
            el(
              'div',
              { class: stateClass(s), 'data-source': s.name },
              el('div', { class: 'name' }, s.name),
              el('div', { class: 'state' }, s.state),
              reasonOf(s),
            ),
          ),
        ),
    el('h2', {}, 'Topics → triggers → sinks'),
    pipeline.triggers.length === 0 ? el('p', { class: 'muted' }, 'no triggers') : el('div', { class: 'flows' }, ...pipeline.triggers.map(triggerRow)),
  );
}

/** Shows the pipeline and refreshes it until the returned stop function is called. */
export function showPipeline(main: HTMLElement, onError: (error: unknown) => void): () => void {
  return refreshing(
    () => api<Pipeline>('GET', '/api/pipeline'),
    (pipeline) => render(main, pipeline),
    onError,
    REFRESH_MS,
  );
}
