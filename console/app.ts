import { api, ApiFailure, session } from './api.js';
import { showAudit } from './audit-page.js';
import { showDeadLetters } from './dead-letters-page.js';
import { showEventSync } from './eventsync-page.js';
import { el, replaceChildren } from './dom.js';
import { showPipeline } from './pipeline-page.js';
import { showSources } from './source-page.js';
import { showTopics } from './topic-page.js';
import { showTrigger } from './trigger-page.js';
import { showTriggers } from './triggers-page.js';

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
let stopPage: (() => void) | undefined;

function showError(error: unknown): void {
  if (error instanceof ApiFailure && error.status === 401) {
    session.signOut();
    showSignIn(`Signed out: ${error.message}`);
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  const banner = el('p', { class: 'error', role: 'alert' }, message);
  main.querySelector('.error')?.remove();
  main.prepend(banner);
}

function showSignIn(problem?: string): void {
  stopPage?.();
  nav.hidden = true;
  const input = el('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: '' });
  const form = el(
    'form',
    { class: 'sign-in' },
    el('h1', {}, 'Sign in'),
    el('label', { for: 'token' }, 'Token'),
    input,
    el('button', { type: 'submit' }, 'Sign in'),
    problem ? el('p', { class: 'error', role: 'alert' }, problem) : null,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    session.signIn(input.value.trim());
    api<{ userId: string; admin: boolean }>('GET', '/api/whoami')
      .then(() => {
        if (location.hash === '' || location.hash === '#sign-in') location.hash = '#pipeline';
        else void route();
      })
      .catch((error: unknown) => {
        session.signOut();
        showSignIn(error instanceof Error ? `Refused: ${error.message}` : 'Refused');
      });
  });
  replaceChildren(main, form);
}

async function route(): Promise<void> {
  stopPage?.();
  stopPage = undefined;
  if (!session.token()) return showSignIn();
  try {
    const me = await api<{ userId: string; admin: boolean }>('GET', '/api/whoami');
    who.textContent = `${me.userId}${me.admin ? ' (admin)' : ''}`;
    nav.hidden = false;
  } catch (error) {
    return showError(error);
  }
  const [page, argument] = location.hash.replace(/^#/, '').split('/');
  if (page === 'triggers') return showTriggers(main, showError).catch(showError);
  if (page === 'trigger' && argument) return showTrigger(main, decodeURIComponent(argument), showError).catch(showError);
  if (page === 'sources') return void (stopPage = showSources(main, showError));
  if (page === 'topics') return showTopics(main, argument ? decodeURIComponent(argument) : undefined, showError).catch(showError);
  if (page === 'audit') return showAudit(main, argument ? decodeURIComponent(argument) : undefined).catch(showError);
  if (page === 'eventsync') return showEventSync(main, showError).catch(showError);
  if (page === 'dead-letters' && argument) return showDeadLetters(main, decodeURIComponent(argument), showError);
  stopPage = showPipeline(main, showError);
}

document.getElementById('sign-out')?.addEventListener('click', () => {
  session.signOut();
  showSignIn();
});
window.addEventListener('hashchange', () => void route());
void route();
