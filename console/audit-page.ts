import { api } from './api.js';
import { el, replaceChildren } from './dom.js';

interface AuditStatus {
  collection: string;
  collections: string[];
  verify: { ok: boolean; streams: number; records: number; broken: { stream: string; seq: number; id: string; reason: string }[] };
}

type AuditRecord = Record<string, unknown> & { _id?: unknown; stream?: unknown; seq?: unknown; op?: unknown; at?: unknown; actor?: unknown };

const text = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value ?? null));

function chainStatus(status: AuditStatus): HTMLElement {
  const { verify } = status;
  return el(
    'div',
    { class: verify.ok ? 'node' : 'node failed', id: 'chain-status', 'data-ok': String(verify.ok) },
    el('div', { class: 'name' }, verify.ok ? 'chain intact' : 'chain broken'),
    el('div', { class: 'muted' }, `${verify.records} records in ${verify.streams} streams of ${status.collection}`),
    ...verify.broken.map((b) => el('p', { class: 'failed-reason' }, `${b.stream} at seq ${b.seq} (${b.id}): ${b.reason}`)),
  );
}

function recordRow(r: AuditRecord): HTMLElement {
  return el(
    'tr',
    {},
    el('td', {}, text(r.stream)),
    el('td', { 'data-field': 'seq' }, text(r.seq)),
    el('td', {}, text(r.op)),
    el('td', {}, text(r.at)),
    el('td', {}, text(r.actor)),
    // Audit contents come from tenants' data and functions: text only.
    el('td', {}, el('pre', { class: 'event' }, JSON.stringify(r, null, 2))),
  );
}

/** The audit log's chain status (verifyAuditLog) and its newest records. */
export async function showAudit(main: HTMLElement, chosen: string | undefined): Promise<void> {
  const query = chosen ? `?collection=${encodeURIComponent(chosen)}` : '';
  const status = await api<AuditStatus>('GET', `/api/audit${query}`);
  const { records } = await api<{ records: AuditRecord[] }>('GET', `/api/audit/records${query}${query ? '&' : '?'}limit=100`);
  const picker = el(
    'select',
    { id: 'collection', name: 'collection' },
    ...status.collections.map((c) => el('option', c === status.collection ? { value: c, selected: '' } : { value: c }, c)),
  );
  picker.addEventListener('change', () => {
    location.hash = `#audit/${encodeURIComponent(picker.value)}`;
  });
  replaceChildren(
    main,
    el('h1', {}, 'Audit'),
    status.collections.length > 1 ? el('label', { for: 'collection' }, 'Audit log ', picker) : null,
    chainStatus(status),
    el('h2', {}, 'Newest records'),
    records.length === 0
      ? el('p', { class: 'muted', id: 'no-audit-records' }, 'no audit records')
      : el(
          'table',
          { class: 'audit-records' },
          el('thead', {}, el('tr', {}, ...['Stream', 'Seq', 'Op', 'At', 'Actor', 'Record'].map((h) => el('th', {}, h)))),
          el('tbody', {}, ...records.map(recordRow)),
        ),
  );
}
