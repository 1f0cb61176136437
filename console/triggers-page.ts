import { api, type Pipeline, type Trigger } from './api.js';
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

/** changeflow.yaml's triggers (an admin sees them; the pipeline names them `yaml:<name>`): state and dead letters, changed in the file. */
function configTable(pipeline: Pipeline): HTMLElement | null {
  const configured = pipeline.triggers.filter((t) => t.id.startsWith('yaml:'));
  if (configured.length === 0) return null;
  return el(
    'section',
    { id: 'config-triggers' },
    el('h2', {}, 'Triggers of changeflow.yaml'),
    el('p', { class: 'muted' }, "The operator's: enable, disable and edit them in changeflow.yaml."),
    el(
      'table',
      { class: 'triggers' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'State'), el('th', {}, 'Sinks'), el('th', {}, ''))),
      el(
        'tbody',
        {},
        ...configured.map((t) =>
          el(
            'tr',
            { 'data-trigger': t.name },
            el('td', {}, t.name),
            el('td', { 'data-field': 'state' }, t.state),
            el('td', {}, t.sinks.map((s) => `${s.name} (${s.kind})`).join(', ')),
            el('td', {}, el('a', { href: `#dead-letters/${encodeURIComponent(t.id)}` }, 'Dead letters')),
          ),
        ),
      ),
    ),
  );
}

export async function showTriggers(main: HTMLElement, onError: (error: unknown) => void): Promise<void> {
  const reload = async (): Promise<void> => {
    const [{ triggers }, pipeline] = await Promise.all([api<{ triggers: Trigger[] }>('GET', '/api/triggers'), api<Pipeline>('GET', '/api/pipeline')]);
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
      configTable(pipeline),
    );
  };
  await reload();
}
