import { UnavailableError } from '../errors.js';
import { retry } from '../retry.js';
import { kafkaFailure } from './kafka-errors.js';
import { LEADERS_POLL } from './retry-policies.js';
import { TOPIC_LEADER_WAIT_MS, type Headers } from './transport.js';

/** A header value as either client hands it over. */
type HeaderValue = Buffer | string;

/**
 * Record headers as the transport gives them: the first value of each name, as text. kafkajs hands
 * them as an object (a repeated name as an array), librdkafka as a list of one-name objects.
 */
export function decodeHeaders(headers: Record<string, HeaderValue | HeaderValue[] | undefined> | Record<string, HeaderValue>[] | undefined): Headers {
  const out: Headers = {};
  if (headers === undefined) return out;
  if (Array.isArray(headers)) {
    for (const entry of headers) {
      for (const name in entry) if (out[name] === undefined) out[name] = String(entry[name]);
    }
    return out;
  }
  for (const name in headers) {
    const value = headers[name];
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}

/** Kafka's protocol error code, the same in both clients. */
const TOPIC_ALREADY_EXISTS = 36;

/**
 * Whether a create-topics failure only says that the topic is there already (another process created it
 * between our list and create): librdkafka's code 36, kafkajs's TOPIC_ALREADY_EXISTS (possibly inside an
 * aggregate's `errors`), or the broker's words, looked for through the causes.
 */
export function isTopicAlreadyExists(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; typeof e === 'object' && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, type, message, errors } = e as { code?: unknown; type?: unknown; message?: unknown; errors?: unknown };
    if (code === TOPIC_ALREADY_EXISTS || type === 'TOPIC_ALREADY_EXISTS') return true;
    if (typeof message === 'string' && /already exists/i.test(message)) return true;
    if (Array.isArray(errors) && errors.some((inner) => isTopicAlreadyExists(inner))) return true;
  }
  return false;
}

/**
 * Waits until every topic has a leader for each partition: a new topic takes a moment to get them, and
 * a produce or a group join before then fails. `ready` asks the broker once; its errors count as not yet.
 */
export async function waitForLeaders(topics: readonly string[], ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + TOPIC_LEADER_WAIT_MS;
  let lastError: unknown;
  const notYet = new UnavailableError('partition leaders not elected yet', { dependency: 'Kafka' });
  try {
    await retry(
      async () => {
        const answered = await ready().catch((error: unknown) => {
          lastError = error;
          return false;
        });
        if (!answered) throw notYet;
      },
      { ...LEADERS_POLL, shouldRetry: () => Date.now() <= deadline },
    );
  } catch {
    const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
    throw kafkaFailure('create topics', `Kafka topics ${topics.join(', ')} have no partition leaders after ${TOPIC_LEADER_WAIT_MS} ms${why}`, true, lastError);
  }
}
