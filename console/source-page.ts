import { refreshing } from './refresh.js';
import { api } from './api.js';
import { el, replaceChildren } from './dom.js';

interface SourcePageView {
  name: string;
  state: string;
  ok: boolean;
  reason: string | null;
  position: {
    phase: 'stream' | 'snapshot';
    resumeToken: string | null;
    clusterTime: { t: number; i: number } | null;
    description: string;
    savedAt: string | null;
  } | null;
  checkpointAgeSeconds: number | null;
  snapshot: { copied: number; total: number | null; ranges: { name: string; copied: number; done: boolean }[] } | null;
  historyLost: { remedy: string } | null;
}

const REFRESH_MS = 5_000;

function positionOf(position: SourcePageView['position']): Node {
  if (!position) return el('span', { class: 'muted' }, 'no stored position yet');
  const where = position.resumeToken
    ? `after resume token ${position.resumeToken}`
    : position.clusterTime
      ? `at cluster time ${position.clusterTime.t}.${position.clusterTime.i}`
      : position.description;
  return el('div', {}, el('code', { 'data-field': 'position' }, where), el('div', { class: 'muted' }, position.description));
}

function snapshotOf(snapshot: SourcePageView['snapshot']): Node | null {
  if (!snapshot) return null;
  const done = snapshot.ranges.filter((r) => r.done).length;
  // The total is an estimate known only where the snapshot runs; elsewhere the bar counts finished ranges.
  const [value, max, label] =
    snapshot.total !== null && snapshot.total > 0
      ? [Math.min(snapshot.copied, snapshot.total), snapshot.total, `${snapshot.copied}/${snapshot.total} documents`]
      : [done, Math.max(snapshot.ranges.length, 1), `${snapshot.copied} documents, ${done}/${snapshot.ranges.length} ranges done`];
  return el(
    'div',
    { class: 'snapshot', 'data-field': 'snapshot' },
    el('h3', {}, 'Snapshot'),
    el('progress', { value: String(value), max: String(max) }),
    el('span', {}, ` ${label}`),
    snapshot.ranges.length > 1
      ? el(
          'ul',
          { class: 'ranges' },
          ...snapshot.ranges.map((r) =>
            el('li', {}, el('progress', { value: r.done ? '1' : '0', max: '1' }), ` ${r.name}: ${r.copied} copied${r.done ? ', done' : ''}`),
          ),
        )
      : null,
  );
}

function sourceCard(s: SourcePageView): HTMLElement {
  return el(
    'section',
    { class: s.ok ? 'node' : 'node failed', 'data-source': s.name },
    el('h2', { class: 'name' }, s.name),
    el(
      'dl',
      {},
      el('dt', {}, 'state'),
      el('dd', { 'data-field': 'state' }, s.state),
      el('dt', {}, 'position'),
      el('dd', {}, positionOf(s.position)),
      el('dt', {}, 'checkpoint age'),
      el('dd', { 'data-field': 'checkpoint-age' }, s.checkpointAgeSeconds === null ? '—' : `${s.checkpointAgeSeconds.toFixed(1)} s`),
    ),
    snapshotOf(s.snapshot),
    s.reason ? el('p', { class: s.ok ? 'reason' : 'reason failed-reason' }, s.reason) : null,
    s.historyLost
      ? el('div', { class: 'history-lost', role: 'note', 'data-field': 'history-lost' }, el('strong', {}, 'Change history lost. '), s.historyLost.remedy)
      : null,
  );
}

/** Shows the caller's sources and refreshes them until the returned stop function is called. */
export function showSources(main: HTMLElement, onError: (error: unknown) => void): () => void {
  return refreshing(
    () => api<{ at: string; sources: SourcePageView[] }>('GET', '/api/sources'),
    ({ at, sources }) =>
      replaceChildren(
        main,
        el('h1', {}, 'Sources'),
        el('p', { class: 'muted' }, `updated ${new Date(at).toLocaleTimeString()} · every ${REFRESH_MS / 1000} s`),
        sources.length === 0
          ? el('p', { class: 'muted', id: 'no-sources' }, 'no sources of yours (you see the sources of your own data_sources)')
          : el('div', { class: 'source-list' }, ...sources.map(sourceCard)),
      ),
    onError,
    REFRESH_MS,
  );
}
