import { api, type DeadLetter, type DeadLetterPage, type RedriveResult } from './api.js';
import { el, replaceChildren } from './dom.js';
import { newestOnly } from './refresh.js';

function describe(result: RedriveResult): string {
  const unsent = (result.letters ?? []).filter((l) => l.outcome !== 'replayed');
  const notes = unsent.map((l) => `; ${l.partition}:${l.offset} not redriven (${l.outcome}: ${l.reason ?? ''})`).join('');
  if (result.matching === 0) return 'nothing matches the filter that was not redriven already';
  if (result.replayed === 0) return result.letters ? `nothing redriven${notes}` : 'nothing to redrive: every dead letter was sent back already';
  const where = Object.entries(result.byTopic)
    .map(([topic, n]) => `${n} → ${topic}`)
    .join(', ');
  const left = result.remaining ? `; ${result.remaining} more match: redrive matching again` : '';
  return `redriven ${result.replayed} dead letter${result.replayed === 1 ? '' : 's'} to the trigger: ${where}${notes}${left}`;
}

/** Dead letters redriven in this tab, by `<dlq>:<partition>:<offset>`: shown so at once, before the server's list is read again. */
const redrivenHere = new Set<string>();

/** The filter form's values: the list's query and "Redrive matching"'s body. */
interface Filter {
  errorKind?: string;
  contains?: string;
}

function queryOf(filter: Filter): string {
  const query = new URLSearchParams();
  if (filter.errorKind) query.set('errorKind', filter.errorKind);
  if (filter.contains) query.set('contains', filter.contains);
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}

/** What became of a dead letter: waiting, sent back, or back here as a new dead letter (it failed again). */
function fateOf(letter: DeadLetter, coordinates: string, failedAgain: ReadonlySet<string>): string {
  if (failedAgain.has(coordinates)) return 'redriven, failed again (see the newer dead letter)';
  if (letter.redriven || redrivenHere.has(coordinates)) return 'redriven';
  return letter.replayedFrom ? `waiting (a second failure of ${letter.replayedFrom})` : 'waiting';
}

function letterRow(letter: DeadLetter, fate: string, redrive: (letter: DeadLetter) => void): HTMLElement {
  const button = el('button', { type: 'button', class: 'redrive' }, 'Redrive');
  button.addEventListener('click', () => redrive(letter));
  const pick = el('input', { type: 'checkbox', class: 'select', 'aria-label': `select ${letter.partition}:${letter.offset}` });
  const origin = letter.origin.topic === null ? 'unknown' : `${letter.origin.topic} [${letter.origin.partition ?? '?'}] @ ${letter.origin.offset ?? '?'}`;
  return el(
    'tr',
    { 'data-offset': `${letter.partition}:${letter.offset}` },
    el('td', {}, pick),
    el('td', {}, `${letter.partition}:${letter.offset}`),
    el('td', {}, el('code', {}, letter.errorKind)),
    el('td', { class: 'message' }, letter.error),
    el('td', {}, origin),
    el('td', {}, letter.attempts),
    el('td', { 'data-field': 'fate' }, fate),
    // Event contents are data written by whoever changed the source: shown as text, never parsed as markup.
    el('td', {}, el('pre', { class: 'event' }, JSON.stringify(letter.event, null, 2))),
    el('td', {}, button),
  );
}

export async function showDeadLetters(main: HTMLElement, triggerId: string, onError: (error: unknown) => void): Promise<void> {
  const path = `/api/triggers/${encodeURIComponent(triggerId)}/dead-letters`;
  const result = el('p', { id: 'redrive-result', role: 'status' });
  const run = (action: Promise<RedriveResult>): void => {
    result.textContent = 'redriving…';
    action
      .then(async (r) => {
        await reload();
        result.textContent = describe(r);
      })
      .catch((error: unknown) => {
        result.textContent = '';
        onError(error);
      });
  };
  let filter: Filter = {};
  const kinds = new Set<string>();
  const newest = newestOnly();
  const reload = async (): Promise<void> => {
    const page = await newest(api<DeadLetterPage>('GET', `${path}${queryOf(filter)}`));
    if (page === undefined) return;
    for (const l of page.letters) kinds.add(l.errorKind);
    const kind = el(
      'select',
      { id: 'filter-kind' },
      el('option', { value: '' }, 'any error kind'),
      ...[...kinds].sort().map((k) => el('option', { value: k }, k)),
    );
    kind.value = filter.errorKind ?? '';
    const contains = el('input', { id: 'filter-contains', type: 'search', placeholder: 'text in the message, key or event' });
    contains.value = filter.contains ?? '';
    const form = el(
      'form',
      { class: 'filters', id: 'dead-letter-filter' },
      el('label', { for: 'filter-kind' }, 'Error kind'),
      kind,
      el('label', { for: 'filter-contains' }, 'Contains'),
      contains,
      el('button', { type: 'submit' }, 'Show'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      filter = { ...(kind.value ? { errorKind: kind.value } : {}), ...(contains.value.trim() ? { contains: contains.value.trim() } : {}) };
      reload().catch(onError);
    });
    const matching = el('button', { type: 'button', id: 'redrive-matching' }, 'Redrive matching');
    if (!filter.errorKind && !filter.contains) matching.setAttribute('disabled', '');
    matching.addEventListener('click', () => run(api<RedriveResult>('POST', `${path}/redrive-matching`, { filter })));
    const failedAgain = new Set(page.letters.map((l) => l.replayedFrom).filter((c): c is string => c !== null));
    const all = el('button', { type: 'button', id: 'redrive-all' }, 'Redrive all');
    all.addEventListener('click', () => run(api<RedriveResult>('POST', `${path}/redrive-all`)));
    const selected = el('button', { type: 'button', id: 'redrive-selected' }, 'Redrive selected');
    selected.addEventListener('click', () => {
      const letters = [...main.querySelectorAll<HTMLInputElement>('tr[data-offset] input.select:checked')].map((box) => {
        const [partition, offset] = (box.closest('tr')?.getAttribute('data-offset') ?? '').split(':');
        return { partition: Number(partition), offset: offset ?? '' };
      });
      if (letters.length === 0) {
        result.textContent = 'select dead letters first (the boxes on the left)';
        return;
      }
      run(
        api<RedriveResult>('POST', `${path}/redrive-selected`, { letters }).then((r) => {
          for (const l of r.letters ?? []) if (l.outcome === 'replayed') redrivenHere.add(`${page.deadLetterTopic}:${l.partition}:${l.offset}`);
          return r;
        }),
      );
    });
    replaceChildren(
      main,
      el('h1', {}, `Dead letters of ${page.trigger.name}`),
      el('p', { class: 'muted' }, `${page.total} in ${page.deadLetterTopic}`),
      form,
      el('p', { class: 'muted', id: 'matching' }, filter.errorKind || filter.contains ? `${page.matching} matching the filter` : ''),
      el('div', { class: 'actions' }, selected, matching, all),
      result,
      page.letters.length === 0
        ? el('p', { class: 'muted', id: 'no-dead-letters' }, 'no dead letters')
        : el(
            'table',
            { class: 'dead-letters' },
            el(
              'thead',
              {},
              el(
                'tr',
                {},
                ...['', 'Partition:offset', 'Error kind', 'Message', 'Origin (topic [partition] @ offset)', 'Attempts', 'Fate', 'Event', ''].map((h) =>
                  el('th', {}, h),
                ),
              ),
            ),
            el(
              'tbody',
              {},
              ...page.letters.map((l) => {
                const coordinates = `${page.deadLetterTopic}:${l.partition}:${l.offset}`;
                return letterRow(l, fateOf(l, coordinates, failedAgain), (letter) =>
                  run(
                    api<RedriveResult>('POST', `${path}/redrive`, { partition: letter.partition, offset: letter.offset }).then((r) => {
                      redrivenHere.add(coordinates);
                      return r;
                    }),
                  ),
                );
              }),
            ),
          ),
    );
  };
  result.textContent = '';
  await reload().catch(onError);
}
