import { isUtf8 } from 'node:buffer';

/** How an event's `content` is written: text as received, or base64 when the bytes are not valid UTF-8. */
export interface EventContent {
  content: string;
  encoding?: 'base64';
}

/**
 * A body or record value as event content. Decoding invalid UTF-8 as text would replace the bad bytes with
 * U+FFFD and lose them for good; base64 keeps every byte, and `encoding` says how to read it back.
 */
export function contentOf(bytes: Buffer | undefined | null): EventContent {
  if (!bytes || bytes.length === 0) return { content: '' };
  return isUtf8(bytes) ? { content: bytes.toString('utf8') } : { content: bytes.toString('base64'), encoding: 'base64' };
}
