import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { isRetriable } from '../core/errors.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { httpSinkKind, httpSinkSchema, signBody } from '../sinks/http.js';
import { SinkWriteError } from '../sinks/sink.js';
import { records, sinkTestContext } from './support/sink.js';
import { uniqueName } from './support/infra.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A local endpoint answering with the given statuses in turn (the last one repeats); 0 = never answer. */
async function endpoint(statuses: number[]): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      const status = statuses[Math.min(received.length - 1, statuses.length - 1)] ?? 200;
      if (status === 0) return; // hang: the sink's timeout must fire
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : `status ${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, server };
}

const events: ChangeEvent[] = Array.from({ length: 3 }, (_, i) => ({
  v: 1,
  id: `h${i}`,
  op: 'insert',
  ns: { db: 'shop', coll: 'orders' },
  documentKey: { _id: i },
  fullDocument: { _id: i },
  source: { name: 's', cluster: 'c' },
}));
const secret = 'a-shared-secret-of-some-length';

describe('http sink against a local endpoint', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('retries a 500, acknowledges on 200 and signs the body', async () => {
    const hook = await endpoint([500, 200]);
    servers.push(hook.server);
    const { dependencies, close } = await sinkTestContext('fire', { metadataDb: uniqueName('http-meta') });
    const sink = httpSinkKind.create(
      httpSinkSchema.parse({ name: 'hook', kind: 'http', url: hook.url, secret, retry: { attempts: 3, initialDelayMs: 20, maxDelayMs: 50 } }),
      dependencies,
    );
    await sink.start();
    try {
      await sink.write(records(events));
      expect(hook.received).toHaveLength(2);
      const [first, second] = hook.received as [Received, Received];
      expect(second.body).toBe(first.body);
      expect(second.headers['idempotency-key']).toBe(first.headers['idempotency-key']);
      expect(JSON.parse(second.body)).toEqual({ trigger: 'fire', sink: 'hook', events });
      expect(second.headers['x-changeflow-signature']).toBe(signBody(second.body, secret));
      expect(second.headers['x-changeflow-signature']).not.toBe(signBody(second.body, 'another-secret-of-some-len'));
    } finally {
      await sink.stop();
      await close();
    }
  });

  it('sends a batch the endpoint refuses (4xx) to the caller record by record, and fails retriably on timeouts', async () => {
    const refusing = await endpoint([422]);
    const hanging = await endpoint([0]);
    servers.push(refusing.server, hanging.server);
    const { dependencies, close } = await sinkTestContext('fire2', { metadataDb: uniqueName('http-meta') });
    const sink = httpSinkKind.create(httpSinkSchema.parse({ name: 'hook', kind: 'http', url: refusing.url }), dependencies);
    const slow = httpSinkKind.create(
      httpSinkSchema.parse({ name: 'slow', kind: 'http', url: hanging.url, timeoutMs: 200, retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 } }),
      dependencies,
    );
    try {
      const refused = await sink.write(records(events)).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(SinkWriteError);
      expect((refused as SinkWriteError).rejected.map((r) => r.index)).toEqual([0, 1, 2]);
      expect((refused as SinkWriteError).rejected[0]?.reason).toContain('HTTP 422');
      expect(refusing.received).toHaveLength(1);

      const timedOut = await slow.write(records(events)).catch((e: unknown) => e);
      expect(isRetriable(timedOut)).toBe(true);
      expect(hanging.received).toHaveLength(2);
      expect(dependencies.context.health.report().components['sink:fire2:slow']?.ok).toBe(false);
    } finally {
      await close();
    }
  });

  it("with publicOnly (tenants' sinks) sends nothing to this machine or a private network, by IP, by localhost or by a name resolving there, and follows no redirect", async () => {
    const hook = await endpoint([200]);
    const redirecting = await endpoint([302]);
    servers.push(hook.server, redirecting.server);
    const port = new URL(hook.url).port;
    const { dependencies, close } = await sinkTestContext('fire3', { metadataDb: uniqueName('http-meta') });
    try {
      for (const url of [
        hook.url,
        `http://localhost:${port}/hook`,
        `http://[::ffff:127.0.0.1]:${port}/hook`,
        `http://${hostname()}:${port}/hook`,
        'http://169.254.169.254/latest/meta-data/',
      ]) {
        const guarded = httpSinkKind.create(httpSinkSchema.parse({ name: 'hook', kind: 'http', url, publicOnly: true, timeoutMs: 2_000 }), dependencies);
        const refused = await guarded.write(records(events)).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(SinkWriteError);
        expect((refused as SinkWriteError).rejected).toHaveLength(3);
        expect((refused as SinkWriteError).rejected[0]?.reason).toMatch(/not sent: .*(not a public address|is this machine).*sinkUris/);
      }
      expect(hook.received).toHaveLength(0);

      const unguarded = httpSinkKind.create(httpSinkSchema.parse({ name: 'hook', kind: 'http', url: redirecting.url }), dependencies);
      const redirected = await unguarded.write(records(events)).catch((e: unknown) => e);
      expect((redirected as SinkWriteError).rejected[0]?.reason).toMatch(/HTTP 302 .*redirects are not followed/);
      expect(redirecting.received).toHaveLength(1);
    } finally {
      await close();
    }
  });
});
