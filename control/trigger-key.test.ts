import { triggerKey, userSlug } from './trigger-key.js';

describe('triggerKey', () => {
  it('is readable and topic-safe', () => {
    const key = triggerKey({ _id: '665f1c2e9b1d4a0012345678', user_id: 'team-a', name: 'orders-cache' });
    expect(key).toBe('api.team-a.orders-cache.665f1c2e9b1d4a0012345678');
    expect(key).toMatch(/^[A-Za-z0-9._-]+$/);
  });
  it('slugs user ids with other characters without letting two users collide', () => {
    expect(userSlug('alice@example.com')).toMatch(/^alice_example_com-[0-9a-f]{8}$/);
    expect(userSlug('alice@example.com')).not.toBe(userSlug('alice_example.com'));
    expect(userSlug('x'.repeat(100))).toHaveLength(40 + 9);
  });
});
