import { api } from './api.js';
import { el, replaceChildren } from './dom.js';
import { newestOnly } from './refresh.js';

interface RecordView {
  partition: number;
  offset: string;
  timestamp: string;
  key: string | null;
  op: string | null;
  ns: string | null;
  event: unknown;
}

const OPS = ['', 'insert', 'update', 'replace', 'delete', 'drop', 'rename', 'dropDatabase', 'invalidate', 'snapshot'];

function field(id: string, label: string, input: HTMLElement): HTMLElement {
  return el('label', { for: id }, `${label} `, input);
}

function recordRow(r: RecordView): HTMLElement {
  return el(
    'tr',
    { 'data-offset': `${r.partition}:${r.offset}` },
    el('td', {}, `${r.partition}:${r.offset}`),
    el('td', {}, new Date(r.timestamp).toLocaleString()),
    el('td', { 'data-field': 'op' }, r.op ?? '—'),
    el('td', {}, r.ns ?? '—'),
    el('td', {}, el('code', {}, r.key ?? '')),
    // Record contents are whoever wrote the source's data: text only, never markup.
    el('td', {}, el('pre', { class: 'event' }, JSON.stringify(r.event, null, 2))),
  );
}

/** The topic browser: the caller's topics, and the filtered tail of the one chosen. */
export async function showTopics(main: HTMLElement, chosen: string | undefined, onError: (error: unknown) => void): Promise<void> {
  const { topics } = await api<{ topics: string[] }>('GET', '/api/topics');
  const topicSelect = el(
    'select',
    { id: 'topic', name: 'topic' },
    ...topics.map((t) => el('option', t === chosen ? { value: t, selected: '' } : { value: t }, t)),
  );
  const op = el('select', { id: 'op', name: 'op' }, ...OPS.map((o) => el('option', { value: o }, o === '' ? 'any' : o)));
  const ns = el('input', { id: 'ns', name: 'ns', placeholder: 'db.coll' });
  const key = el('input', { id: 'key', name: 'key', placeholder: 'part of the key' });
  const limit = el('input', { id: 'limit', name: 'limit', type: 'number', min: '1', max: '500', value: '50' });
  const output = el('div', { id: 'records' });
  const form = el(
    'form',
    { class: 'topic-filter' },
    field('topic', 'Topic', topicSelect),
    field('op', 'Op', op),
    field('ns', 'Namespace', ns),
    field('key', 'Key', key),
    field('limit', 'Last', limit),
    el('button', { type: 'submit' }, 'Show'),
  );
  const newest = newestOnly();
  const load = async (): Promise<void> => {
    const topic = topicSelect.value;
    if (!topic) return;
    const query = new URLSearchParams({ limit: limit.value });
    if (op.value) query.set('op', op.value);
    if (ns.value.trim()) query.set('ns', ns.value.trim());
    if (key.value.trim()) query.set('key', key.value.trim());
    replaceChildren(output, el('p', { class: 'muted' }, 'reading…'));
    const page = await newest(
      api<{ topic: string; scanned: number; records: RecordView[] }>('GET', `/api/topics/${encodeURIComponent(topic)}/records?${query}`),
    );
    if (page === undefined) return;
    replaceChildren(
      output,
      el('p', { class: 'muted', id: 'records-summary' }, `${page.records.length} of the last ${page.scanned} records in ${page.topic}`),
      page.records.length === 0
        ? el('p', { class: 'muted', id: 'no-records' }, 'no matching records')
        : el(
            'table',
            { class: 'records' },
            el('thead', {}, el('tr', {}, ...['Partition:offset', 'Time', 'Op', 'Namespace', 'Key', 'Event'].map((h) => el('th', {}, h)))),
            el('tbody', {}, ...page.records.map(recordRow)),
          ),
    );
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load().catch(onError);
  });
  replaceChildren(
    main,
    el('h1', {}, 'Topics'),
    topics.length === 0 ? el('p', { class: 'muted', id: 'no-topics' }, 'no topics your triggers read or write') : form,
    output,
  );
  if (chosen && topics.includes(chosen)) await load();
}
