import { createHash } from 'node:crypto';

/**
 * The runtime key of an API trigger: `api.<user>.<name>.<id>`. It names the trigger's consumer
 * group (`<prefix>.trigger.<key>`) and dead-letter topic (`<prefix>.__dlq.<key>`), so it must be
 * stable (user, name and id never change after create) and topic-safe. The id makes a trigger
 * created again under an old name start afresh instead of inheriting the old one's offsets; the
 * `api.` prefix and the dots keep it apart from file triggers, whose names cannot contain dots.
 * A user id with characters outside `[A-Za-z0-9_-]` (or longer than 40) is slugged and suffixed
 * with a short hash of the real id, so two users never share a key.
 */
export function triggerKey(trigger: { _id: string; user_id: string; name: string }): string {
  return `api.${userSlug(trigger.user_id)}.${trigger.name}.${trigger._id}`;
}

export function userSlug(userId: string): string {
  const slug = userId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  if (slug === userId && slug !== '') return slug;
  return `${slug}-${createHash('sha256').update(userId, 'utf8').digest('hex').slice(0, 8)}`;
}
