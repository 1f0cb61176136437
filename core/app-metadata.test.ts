import { compileConfig } from '../app/config.js';
import { startApp } from './app.js';
import { ChangeflowError, dependencyOf } from './errors.js';
import { freePort } from './infra/net.js';
import { silentLogger } from './logger.js';

describe('startApp without its metadata MongoDB', () => {
  it('waits, then refuses with what to check, naming MongoDB and the URI without its password', async () => {
    const port = await freePort();
    const uri = `mongodb://ops:s3cret@127.0.0.1:${port}/?directConnection=true`;
    const config = compileConfig({ kafka: { brokers: ['127.0.0.1:9'] }, mongodb: { uri, db: 'meta' } }, {});
    const started = Date.now();
    const error = await startApp(config, [], { logger: silentLogger, metadataWaitMs: 1_500 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    expect(error).toBeInstanceOf(ChangeflowError);
    expect(dependencyOf(error)).toBe('MongoDB');
    const message = (error as Error).message;
    expect(message).toMatch(
      new RegExp(`^the metadata MongoDB \\(mongodb\\.uri mongodb://ops:\\*\\*\\*@127\\.0\\.0\\.1:${port}/.*\\) did not answer for 2 s: .*Check that it runs`),
    );
    expect(message).not.toContain('s3cret');
  });
});
