import { api } from './api.js';
import { el, replaceChildren } from './dom.js';

/** GET /api/triggers/:id/detail (control/console-api/trigger-routes.ts). */
interface TriggerDetail {
  trigger: {
    id: string;
    name: string;
    userId: string;
    enabled: boolean;
    runtimeKey: string;
    reads: string[];
    sinks: { name: string; kind: string }[];
    batch: { maxSize: number; maxWaitMs: number } | null;
  };
  function: { id: string; name: string; language: 'javascript' | 'wasm'; javascript: string | null; wasmBytes: number | null } | null;
  functionProblem: string | null;
  state: { state: string; ok: boolean; reason: string | null };
  counts: { batches: number; delivered: number; filtered: number; deadLettered: number; errors: Record<string, number> };
  deadLetters: { topic: string; stored: number };
}

interface ExecuteResult {
  events: unknown[];
  actions: unknown;
  logs: string[];
  error: { kind: string; message: string; line: number | null; column: number | null } | null;
}

const RECENT = 10;

function facts(rows: [string, string | number | Node][]): HTMLElement {
  return el('dl', { class: 'facts' }, ...rows.flatMap(([term, value]) => [el('dt', {}, term), el('dd', { 'data-field': term.toLowerCase() }, value)]));
}

function outcomeOf(result: ExecuteResult): HTMLElement {
  const where = result.error?.line ? ` (line ${result.error.line}, column ${result.error.column ?? 0})` : '';
  return el(
    'div',
    { id: 'execute-result', role: 'status' },
    result.error
      ? el('p', { class: 'error' }, `${result.error.kind}: ${result.error.message}${where}`)
      : el('p', {}, `ran on ${result.events.length} event${result.events.length === 1 ? '' : 's'}`),
    el('h3', {}, 'Actions'),
    el('pre', { class: 'event', id: 'execute-actions' }, JSON.stringify(result.actions, null, 2)),
    result.logs.length > 0 ? el('h3', {}, 'Logs') : null,
    result.logs.length > 0 ? el('pre', { class: 'event' }, result.logs.join('\n')) : null,
  );
}

/** `#trigger/<id>`: a trigger's definition, state and counts, its function to read, edit and try on events. */
export async function showTrigger(main: HTMLElement, triggerId: string, onError: (error: unknown) => void): Promise<void> {
  const base = `/api/triggers/${encodeURIComponent(triggerId)}`;
  const detail = await api<TriggerDetail>('GET', `${base}/detail`);
  const { trigger, counts } = detail;

  const toggle = el('button', { type: 'button', class: 'toggle' }, trigger.enabled ? 'Disable' : 'Enable');
  toggle.addEventListener('click', () => {
    toggle.setAttribute('disabled', '');
    api('POST', `${base}/${trigger.enabled ? 'disable' : 'enable'}`)
      .then(() => showTrigger(main, triggerId, onError))
      .catch(onError);
  });

  const errors = Object.entries(counts.errors);
  const summary = facts([
    ['Owner', trigger.userId],
    ['State', `${trigger.enabled ? 'enabled' : 'disabled'}, ${detail.state.state}${detail.state.reason ? `: ${detail.state.reason}` : ''}`],
    ['Reads', trigger.reads.join(', ') || '—'],
    ['Sinks', trigger.sinks.map((s) => `${s.name} (${s.kind})`).join(', ') || '—'],
    ['Batch', trigger.batch ? `up to ${trigger.batch.maxSize} events or ${trigger.batch.maxWaitMs} ms` : 'defaults'],
    ['Batches', counts.batches],
    ['Delivered', counts.delivered],
    ['Filtered', counts.filtered],
    ['Errors', errors.length === 0 ? 'none' : errors.map(([kind, n]) => `${kind} ${n}`).join(', ')],
    ['Dead letters', el('a', { href: `#dead-letters/${encodeURIComponent(trigger.id)}` }, `${detail.deadLetters.stored} in ${detail.deadLetters.topic}`)],
  ]);

  const source = el('textarea', { id: 'function-source', rows: '16', spellcheck: 'false' });
  source.value = detail.function?.javascript ?? '';
  const events = el('textarea', { id: 'sample-events', rows: '8', spellcheck: 'false' });
  events.value = '[]';
  const saved = el('p', { id: 'save-result', role: 'status' });
  const output = el('div', { id: 'execute-output' });

  const save = el('button', { type: 'button', id: 'save-function' }, 'Save function');
  save.addEventListener('click', () => {
    saved.textContent = 'saving…';
    api('POST', `${base}/function`, { javascript: source.value })
      .then(() => {
        saved.textContent = 'saved: the trigger runs this version from its next batch';
      })
      .catch((error: unknown) => {
        saved.textContent = '';
        onError(error);
      });
  });

  const execute = (body: Record<string, unknown>): void => {
    replaceChildren(output, el('p', {}, 'running…'));
    api<ExecuteResult>('POST', `${base}/execute`, body)
      .then((result) => {
        if (body['recent'] !== undefined) events.value = JSON.stringify(result.events, null, 2);
        replaceChildren(output, outcomeOf(result));
      })
      .catch((error: unknown) => {
        replaceChildren(output);
        onError(error);
      });
  };
  const edited = (): Record<string, unknown> => (detail.function?.language === 'javascript' ? { javascript: source.value } : {});
  const run = el('button', { type: 'button', id: 'run-function' }, 'Run on these events');
  run.addEventListener('click', () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(events.value);
    } catch (error) {
      return onError(new Error(`Sample events: not JSON (${error instanceof Error ? error.message : String(error)}); give an array of change events`));
    }
    if (!Array.isArray(parsed)) return onError(new Error('Sample events: give a JSON array of change events, e.g. [{"op":"insert","fullDocument":{}}]'));
    execute({ ...edited(), events: parsed });
  });
  const recent = el('button', { type: 'button', id: 'run-recent' }, `Run on the ${RECENT} newest events`);
  recent.addEventListener('click', () => execute({ ...edited(), recent: RECENT }));

  const functionPart = detail.function
    ? detail.function.language === 'javascript'
      ? [el('label', { for: 'function-source' }, `Function ${detail.function.name} (JavaScript)`), source, el('div', { class: 'actions' }, save), saved]
      : [el('p', {}, `Function ${detail.function.name}: a WebAssembly module of ${detail.function.wasmBytes ?? 0} bytes (replace it through the API)`)]
    : [el('p', { class: 'muted' }, detail.functionProblem ?? 'no function: events go to every sink as they are')];

  replaceChildren(
    main,
    el('h1', {}, `Trigger ${trigger.name}`),
    el('div', { class: 'actions' }, toggle),
    summary,
    el('h2', {}, 'Function'),
    ...functionPart,
    detail.function
      ? el(
          'section',
          { class: 'try' },
          el('h2', {}, 'Try it'),
          el('label', { for: 'sample-events' }, 'Sample events (a JSON array)'),
          events,
          el('div', { class: 'actions' }, run, recent),
          output,
        )
      : null,
  );
}
