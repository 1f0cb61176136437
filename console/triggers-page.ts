import { api, type Trigger } from './api.js';
import { el, replaceChildren } from './dom.js';

function row(trigger: Trigger, reload: () => Promise<void>, onError: (error: unknown) => void): HTMLElement {
  const toggle = el('button', { type: 'button', class: 'toggle' }, trigger.enabled ? 'Disable' : 'Enable');
  toggle.addEventListener('click', () => {
    toggle.setAttribute('disabled', '');
    api('POST', `/api/triggers/${encodeURIComponent(trigger.id)}/${trigger.enabled ? 'disable' : 'enable'}`)
      .then(reload)
      .catch(onError);
  });
  return el(
    'tr',
    { 'data-trigger': trigger.name },
    el('td', {}, el('a', { href: `#trigger/${encodeURIComponent(trigger.id)}` }, trigger.name)),
    el('td', {}, trigger.user_id),
    el('td', { 'data-field': 'enabled' }, trigger.enabled ? 'enabled' : 'disabled'),
    el('td', {}, trigger.sinks.map((s) => `${s.name} (${s.kind})`).join(', ')),
    el('td', {}, toggle),
    el('td', {}, el('a', { href: `#dead-letters/${encodeURIComponent(trigger.id)}` }, 'Dead letters')),
  );
}

export async function showTriggers(main: HTMLElement, onError: (error: unknown) => void): Promise<void> {
  const reload = async (): Promise<void> => {
    const { triggers } = await api<{ triggers: Trigger[] }>('GET', '/api/triggers');
    replaceChildren(
      main,
      el('h1', {}, 'Triggers'),
      triggers.length === 0
        ? el('p', { class: 'muted' }, 'no triggers')
        : el(
            'table',
            { class: 'triggers' },
            el(
              'thead',
              {},
              el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'Owner'), el('th', {}, 'State'), el('th', {}, 'Sinks'), el('th', {}, ''), el('th', {}, '')),
            ),
            el('tbody', {}, ...triggers.map((t) => row(t, reload, onError))),
          ),
    );
  };
  await reload();
}
