import { createHash } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import type { Collection, Db } from 'mongodb';
import { z } from 'zod';
import { unauthenticated } from './api-error.js';

/** Who is calling: the owner of what they create, and whether they see everyone's objects. */
export interface Principal {
  userId: string;
  admin: boolean;
}

/** A document of the `tokens` collection: the token itself is never stored, only its SHA-256. */
export interface TokenDoc {
  /** Hex SHA-256 of the bearer token. */
  _id: string;
  user_id: string;
  admin?: boolean;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const tokenDocSchema = z.object({ _id: z.string(), user_id: z.string().min(1), admin: z.boolean().optional() });

const BEARER = /^Bearer\s+(\S+)\s*$/i;
const CACHE_MS = 5_000;

/**
 * Maps `authorization: Bearer <token>` to a Principal, from the config file's `auth.tokens` and
 * the metadata store's `tokens` collection. Lookups are by hash, so the comparison never touches
 * the raw token; known tokens are cached for a few seconds (a revoked one stops working within that).
 */
export class TokenAuthenticator {
  private readonly fromConfig = new Map<string, Principal>();
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private readonly tokens: Collection<TokenDoc> | undefined;

  constructor(configTokens: readonly { token: string; userId: string; admin: boolean }[], db?: Db) {
    for (const t of configTokens) this.fromConfig.set(hashToken(t.token), { userId: t.userId, admin: t.admin });
    this.tokens = db?.collection<TokenDoc>('tokens');
  }

  async authenticate(metadata: Metadata): Promise<Principal> {
    const values = metadata.get('authorization');
    const header = values[0];
    if (values.length === 0 || typeof header !== 'string') {
      throw unauthenticated('missing "authorization: Bearer <token>" metadata (CLI: --token or CHANGEFLOW_TOKEN)');
    }
    return this.authenticateHeader(header, 'metadata');
  }

  /** The same check for an HTTP `Authorization` header (the console's JSON API). */
  async authenticateHeader(header: string | undefined, where = 'header'): Promise<Principal> {
    if (header === undefined || header === '') throw unauthenticated(`missing "Authorization: Bearer <token>" ${where}`);
    const match = BEARER.exec(header);
    const token = match?.[1];
    if (!token) throw unauthenticated(`the authorization ${where} must be "Bearer <token>"`);
    const principal = await this.lookup(hashToken(token));
    if (!principal) throw unauthenticated('unknown token');
    return principal;
  }

  private async lookup(hash: string): Promise<Principal | undefined> {
    const configured = this.fromConfig.get(hash);
    if (configured) return configured;
    const cached = this.cache.get(hash);
    if (cached && cached.until > Date.now()) return cached.principal;
    if (!this.tokens) return undefined;
    const doc = await this.tokens.findOne({ _id: hash });
    const parsed = tokenDocSchema.safeParse(doc);
    if (!parsed.success) return undefined;
    const principal = { userId: parsed.data.user_id, admin: parsed.data.admin ?? false };
    this.cache.set(hash, { principal, until: Date.now() + CACHE_MS });
    return principal;
  }
}
