import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './net.js';
import { spawnDetached } from './process.js';

export interface RedisInfo {
  url: string;
  /** Set when we started redis-server ourselves (and so must stop it). */
  pid?: number;
}

export async function redisAnswers(url: string, timeoutMs = 1_500): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Redis for cache features: `REDIS_URL`, else the machine's 127.0.0.1:6379, else a redis-server we
 * start on a free port when the binary exists. Returns null (cache features unavailable) otherwise.
 */
export async function findOrStartRedis(workDir: string, envUrl = process.env['REDIS_URL']): Promise<RedisInfo | null> {
  if (envUrl) return { url: envUrl };
  const local = 'redis://127.0.0.1:6379';
  if (await redisAnswers(local)) return { url: local };
  if (spawnSync('redis-server', ['--version']).status !== 0) return null;
  const port = await freePort();
  const pid = spawnDetached(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', workDir],
    join(workDir, 'redis.log'),
  );
  const url = `redis://127.0.0.1:${port}`;
  return (await waitFor(() => redisAnswers(url), 10_000)) ? { url, pid } : null;
}
