import { api } from './api.js';
import { el, replaceChildren } from './dom.js';

/** GET /api/eventsync (control/console-api/eventsync-routes.ts). */
interface EventSyncView {
  serviceName: string;
  pathPrefix: string;
  trigger: unknown;
  auth: string | null;
  targetTopic: string;
  endpoints: { eventKey: string; via: 'http' | 'kafka'; topic: string | null; pending: number }[];
}

interface TriggerResult {
  published: boolean;
  eventID?: string;
  events: number;
  reason?: string;
  missing?: string[];
  error?: string;
}

function describe(result: TriggerResult): string {
  if (result.published) return `published ${result.events} event${result.events === 1 ? '' : 's'} as message ${result.eventID ?? ''}`;
  const missing = result.missing?.length ? ` (no event yet for ${result.missing.join(', ')})` : '';
  return `nothing published: ${result.reason ?? 'unknown'}${missing}${result.error ? `: ${result.error}` : ''}`;
}

function serviceSection(service: EventSyncView, reload: () => Promise<void>, onError: (error: unknown) => void): HTMLElement {
  const path = `/api/eventsync/${encodeURIComponent(service.serviceName)}`;
  const result = el('p', { role: 'status', 'data-field': 'result' });
  const act = (action: 'trigger' | 'reset'): void => {
    result.textContent = action === 'trigger' ? 'triggering…' : 'resetting…';
    api<{ result?: TriggerResult; reset?: number }>('POST', `${path}/${action}`)
      .then(async (answer) => {
        await reload();
        const text = answer.result ? describe(answer.result) : `reset: ${answer.reset ?? 0} unexported event${answer.reset === 1 ? '' : 's'} flagged exported`;
        main()
          .querySelector(`section[data-service="${CSS.escape(service.serviceName)}"] [data-field="result"]`)
          ?.replaceChildren(text);
      })
      .catch((error: unknown) => {
        result.textContent = '';
        onError(error);
      });
  };
  const trigger = el('button', { type: 'button', class: 'trigger' }, 'Trigger now');
  trigger.addEventListener('click', () => act('trigger'));
  const reset = el('button', { type: 'button', class: 'reset' }, 'Reset');
  reset.addEventListener('click', () => act('reset'));
  return el(
    'section',
    { class: 'eventsync', 'data-service': service.serviceName },
    el('h2', {}, service.serviceName),
    el('p', { class: 'muted' }, `${service.pathPrefix} → ${service.targetTopic} · trigger ${JSON.stringify(service.trigger)} · auth ${service.auth ?? 'none'}`),
    el(
      'table',
      { class: 'endpoints' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Event key'), el('th', {}, 'Fed by'), el('th', {}, 'Unexported events'))),
      el(
        'tbody',
        {},
        ...service.endpoints.map((e) =>
          el(
            'tr',
            { 'data-key': e.eventKey },
            el('td', {}, e.eventKey),
            el('td', {}, e.via === 'kafka' ? `Kafka ${e.topic ?? ''}` : `HTTP POST ${service.pathPrefix}/event/${e.eventKey}`),
            el('td', { 'data-field': 'pending' }, e.pending),
          ),
        ),
      ),
    ),
    el('div', { class: 'actions' }, trigger, reset),
    result,
  );
}

const main = (): HTMLElement => document.getElementById('main') as HTMLElement;

/** `#eventsync`: the EventSync services of this process (an admin's page), with a manual trigger and a reset. */
export async function showEventSync(root: HTMLElement, onError: (error: unknown) => void): Promise<void> {
  const reload = async (): Promise<void> => {
    const { services } = await api<{ services: EventSyncView[] }>('GET', '/api/eventsync');
    replaceChildren(
      root,
      el('h1', {}, 'EventSync'),
      services.length === 0
        ? el('p', { class: 'muted' }, 'no EventSync services run in this process')
        : el('div', {}, ...services.map((s) => serviceSection(s, reload, onError))),
    );
  };
  await reload();
}
