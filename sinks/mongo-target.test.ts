import { describe, expect, it } from '@jest/globals';
import { MongoClient, MongoTopologyClosedError } from 'mongodb';
import { freePort } from '../core/infra/net.js';
import { MongoTarget } from './mongo-target.js';

const fast = { serverSelectionTimeoutMS: 300, connectTimeoutMS: 300 };

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('MongoTarget', () => {
  it('the driver: a MongoClient whose first connect failed answers "Topology is closed" for good (why the sink never reuses one)', async () => {
    const client = new MongoClient(`mongodb://127.0.0.1:${await freePort()}/?directConnection=true`, fast);
    await failure(client.connect());
    expect(await failure(client.db('x').command({ ping: 1 }))).toBeInstanceOf(MongoTopologyClosedError);
    await client.close();
  });

  it('after a failed connect, the next use tries a new client (never "Topology is closed") and health is told each time', async () => {
    const downs: string[] = [];
    const target = new MongoTarget({
      uri: `mongodb://127.0.0.1:${await freePort()}/?directConnection=true`,
      client: fast,
      initialDelayMs: 60_000,
      onDown: (e) => downs.push((e as Error).name),
    });
    expect(await target.connect()).toBe(false);
    const again = await failure(target.client());
    expect(again).not.toBeInstanceOf(MongoTopologyClosedError);
    expect((again as Error).name).toBe('MongoServerSelectionError');
    expect(downs).toEqual(['MongoServerSelectionError']);
    await target.close();
    await expect(target.client()).rejects.toThrow(/stopped/);
  });
});
