import type { Db } from 'mongodb';
import type { TokenDoc } from './auth.js';

/** Users that a token in the metadata store's `tokens` collection makes admins. */
export async function storedAdminIds(db: Db): Promise<string[]> {
  const docs = await db
    .collection<TokenDoc>('tokens')
    .find({ admin: true }, { projection: { user_id: 1 } })
    .toArray();
  return [...new Set(docs.map((d) => d.user_id).filter((id): id is string => typeof id === 'string'))];
}
