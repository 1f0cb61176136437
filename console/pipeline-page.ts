import { refreshing } from './refresh.js';
import { api, type Pipeline, type PipelineTrigger } from './api.js';
import { el, replaceChildren } from './dom.js';

const REFRESH_MS = 2_000;
/** Samples kept per trigger for the trend: five minutes at one sample per refresh. */
const TREND_SAMPLES = 150;
const BARS = '▁▂▃▄▅▆▇█';

const trends = new Map<string, number[]>();

function trend(id: string, value: number): string {
  const samples = trends.get(id) ?? [];
  samples.push(value);
  if (samples.length > TREND_SAMPLES) samples.shift();
  trends.set(id, samples);
  const recent = samples.slice(-30);
  const max = Math.max(...recent, 1);
  return recent.map((v) => BARS[Math.min(BARS.length - 1, Math.round((v / max) * (BARS.length - 1)))] ?? '').join('');
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
      el('div', { class: 'trend', title: 'events/s, last minute' }, trend(t.id, t.eventsPerSecond)),
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
