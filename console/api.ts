/** Calls to the service's /api/, with the token the user signed in with as the bearer header (never in the URL). */

const TOKEN_KEY = 'changeflow.token';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.token() ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const data = (await response.json().catch(() => ({}))) as { error?: unknown };
  if (!response.ok) throw new ApiFailure(response.status, typeof data.error === 'string' ? data.error : `${response.status} ${response.statusText}`);
  return data as T;
}

export interface Sink {
  name: string;
  kind: string;
}

export interface Trigger {
  id: string;
  name: string;
  user_id: string;
  enabled: boolean;
  runtime_key: string;
  sinks: Sink[];
}

export interface StateView {
  state: string;
  ok: boolean;
  reason: string | null;
}

export interface PipelineTrigger extends StateView {
  id: string;
  name: string;
  userId: string;
  enabled: boolean;
  topic: string | null;
  sinks: Sink[];
  eventsPerSecond: number;
  lag: number;
  secondsBehind: number;
  delivered: number;
  deadLettered: number;
  /** Oldest first, sampled by the service over the last minutes. */
  trend: { at: string; eventsPerSecond: number; secondsBehind: number; lag: number }[];
}

export interface Pipeline {
  at: string;
  sources: (StateView & { name: string })[];
  triggers: PipelineTrigger[];
}

export interface DeadLetter {
  partition: number;
  offset: string;
  errorKind: string;
  error: string;
  attempts: number;
  origin: { topic: string | null; partition: number | null; offset: string | null };
  replayedFrom: string | null;
  redriven: boolean;
  at: string | null;
  key: string | null;
  event: unknown;
}

export interface DeadLetterPage {
  trigger: { id: string; name: string };
  deadLetterTopic: string;
  total: number;
  /** Those matching the list's filter (all of them without one). */
  matching: number;
  letters: DeadLetter[];
}

export interface RedriveResult {
  replayed: number;
  byTopic: Record<string, number>;
  deadLetterTopic: string;
  /** "Redrive matching": how many matched, and how many are left for another call. */
  matching?: number;
  remaining?: number;
  /** A selection's answer: what became of each chosen dead letter. */
  letters?: { partition: number; offset: string; outcome: 'replayed' | 'not-found' | 'refused'; topic?: string; reason?: string }[];
}
