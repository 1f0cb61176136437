import { createHash, timingSafeEqual } from 'node:crypto';
import type { EventSyncAuth } from './config.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Constant-time comparison (on digests, so lengths don't leak either). */
function same(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** Returns null when the request may pass, else why not (for the 401 body). */
export function checkAuth(auth: EventSyncAuth | undefined, headers: Record<string, string | string[] | undefined>): string | null {
  if (!auth) return null;
  if (auth.type === 'bearer') {
    const value = headers['authorization'];
    const header = Array.isArray(value) ? value[0] : value;
    const match = header ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
    if (!match?.[1]) return 'missing "Authorization: Bearer <token>" header';
    return same(match[1], auth.token) ? null : 'bearer token does not match';
  }
  const value = headers[auth.header];
  const secret = Array.isArray(value) ? value[0] : value;
  if (!secret) return `missing "${auth.header}" header`;
  return same(secret, auth.secret) ? null : `"${auth.header}" does not match the shared secret`;
}

/** Headers that carry credentials and must not be copied into published messages. */
export function credentialHeaders(auth: EventSyncAuth | undefined): Set<string> {
  const names = new Set(['authorization', 'proxy-authorization', 'cookie']);
  if (auth?.type === 'sharedSecret') names.add(auth.header);
  return names;
}
