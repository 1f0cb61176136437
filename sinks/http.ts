import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { ChangeflowError, UnavailableError, errorMessage } from '../core/errors.js';
import { retry } from '../core/retry.js';
import { SinkWriteError, type Sink, type SinkDependencies, type SinkKind, type SinkRecord } from './sink.js';
import { retrySettingsSchema, sinkEntrySchema } from './sink-config.js';
import { SinkStatus } from './sink-status.js';
import { NonPublicAddressError } from './address-guard.js';
import { sendRequest, type EndpointAnswer } from './http-request.js';
import { sha256Hex } from '../schemas/values.js';

export const httpSinkSchema = sinkEntrySchema('http', {
  url: z
    .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
    .meta({ description: 'Endpoint receiving the batches.', example: 'https://hooks.example.com/changeflow' }),
  method: z.enum(['POST', 'PUT']).default('POST').meta({ description: 'HTTP method.' }),
  headers: z
    .record(z.string(), z.string())
    .default({})
    .meta({ description: 'Extra request headers (e.g. an Authorization header).', example: { authorization: 'Bearer …' }, secret: true }),
  timeoutMs: z.number().int().positive().default(10_000).meta({ description: 'Time allowed for one request.' }),
  retry: retrySettingsSchema.meta({ description: 'Attempts and backoff per batch before the processor takes over the retrying.' }),
  secret: z.string().min(16, { error: 'use a secret of at least 16 characters' }).optional().meta({
    description: 'When set, the header named by `signatureHeader` carries `sha256=<hex HMAC-SHA256 of the raw body with this secret>`.',
    secret: true,
  }),
  signatureHeader: z.string().min(1).default('x-changeflow-signature').meta({ description: 'Header carrying the signature.' }),
  publicOnly: z.boolean().default(false).meta({
    description:
      "Refuse to connect to loopback, private, link-local and reserved addresses (checked after DNS, on every connection; redirects are never followed). The control plane sets it on tenants' sinks unless `auth.tenants[].sinkUris` grants targets; a tenant cannot set it.",
  }),
});
export type HttpSinkConfig = z.output<typeof httpSinkSchema>;

export const postActionSchema = z.strictObject({
  sink: z.string(),
  op: z.literal('post', { error: 'an http sink takes op "post"' }),
  body: z.unknown().optional(),
});

/** The HMAC-SHA256 signature of a body, as the header carries it: `sha256=<hex>`. Receivers recompute it over the raw body. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The endpoint answered with a status that will not change on retry (4xx other than 408/429). */
class EndpointRefused extends ChangeflowError {
  constructor(
    /** 0: the request was not sent (the target is not allowed). */
    readonly status: number,
    detail: string,
  ) {
    super(status === 0 ? `the batch was ${detail}` : `the endpoint refused the batch: HTTP ${status} ${detail}`.trim(), {
      retriable: false,
      code: 'HTTP_REFUSED',
    });
  }
}

class HttpSink implements Sink {
  readonly kind = 'http';
  readonly name: string;
  private readonly status: SinkStatus;
  private readonly url: URL;

  constructor(
    private readonly config: HttpSinkConfig,
    private readonly dependencies: SinkDependencies,
  ) {
    this.name = config.name;
    this.url = new URL(config.url);
    this.status = new SinkStatus(dependencies, this.kind, this.name);
  }

  async start(): Promise<void> {
    this.status.ok();
  }

  async stop(): Promise<void> {
    this.status.remove();
  }

  private async post(body: string, idempotencyKey: string): Promise<void> {
    const headers: Record<string, string> = {
      ...this.config.headers,
      'content-type': 'application/json',
      'idempotency-key': idempotencyKey,
      'x-changeflow-trigger': this.dependencies.trigger,
    };
    if (this.config.secret) headers[this.config.signatureHeader] = signBody(body, this.config.secret);
    let answer: EndpointAnswer;
    try {
      answer = await sendRequest(this.url, { method: this.config.method, headers, body, timeoutMs: this.config.timeoutMs, publicOnly: this.config.publicOnly });
    } catch (error) {
      if (error instanceof NonPublicAddressError)
        throw new EndpointRefused(0, `not sent: ${error.message}; an admin can grant the target in auth.tenants[].sinkUris`);
      throw new UnavailableError(`${this.config.method} ${this.config.url} failed: ${errorMessage(error)}`, { cause: error });
    }
    if (answer.status >= 200 && answer.status < 300) return;
    const detail = answer.text.slice(0, 200);
    if (answer.status >= 500 || answer.status === 408 || answer.status === 429)
      throw new UnavailableError(`${this.config.method} ${this.config.url}: HTTP ${answer.status} ${detail}`.trim());
    throw new EndpointRefused(
      answer.status,
      answer.status >= 300 && answer.status < 400 ? `${detail} (redirects are not followed; point url at the final endpoint)`.trim() : detail,
    );
  }

  async write(records: readonly SinkRecord[]): Promise<void> {
    const rejected: { index: number; reason: string }[] = [];
    const items: unknown[] = [];
    const ids: string[] = [];
    records.forEach((record, index) => {
      if (!record.action) {
        items.push(record.event);
        ids.push(record.event.id);
        return;
      }
      const parsed = postActionSchema.safeParse(record.action);
      if (!parsed.success) {
        rejected.push({ index, reason: `action.op: an http sink takes { op: "post", body? } (got op "${record.action.op}")` });
        return;
      }
      items.push(parsed.data.body === undefined ? record.event : parsed.data.body);
      ids.push(`${record.event.id}#${index}`);
    });
    if (items.length > 0) {
      const body = JSON.stringify({ trigger: this.dependencies.trigger, sink: this.name, events: items });
      try {
        await retry(() => this.post(body, sha256Hex(ids.join('\n'))), {
          attempts: this.config.retry.attempts,
          initialDelayMs: this.config.retry.initialDelayMs,
          maxDelayMs: this.config.retry.maxDelayMs,
          onRetry: (error, attempt, delayMs) =>
            this.dependencies.context.logger.warn({ sink: this.name, attempt, delayMs, err: errorMessage(error) }, 'http sink retrying'),
        });
      } catch (error) {
        if (error instanceof EndpointRefused) {
          // The endpoint said no for good: every record of the batch goes to the dead-letter topic with its answer.
          records.forEach((_, index) => rejected.some((r) => r.index === index) || rejected.push({ index, reason: error.message }));
        } else {
          const wrapped =
            error instanceof UnavailableError ? error : new UnavailableError(`http sink "${this.name}": ${errorMessage(error)}`, { cause: error });
          this.status.failing(`endpoint ${this.config.url} not answering`, wrapped);
          throw wrapped;
        }
      }
    }
    this.status.ok();
    this.status.count('rejected', rejected.length);
    this.status.count('written', records.length - rejected.length);
    if (rejected.length > 0)
      throw new SinkWriteError(`http sink "${this.name}": ${rejected.length} records refused (first: ${rejected[0]?.reason ?? ''})`, rejected);
  }
}

export const httpSinkKind: SinkKind<typeof httpSinkSchema> = {
  kind: 'http',
  description:
    'POSTs each batch as JSON `{ trigger, sink, events: [...] }` to a URL (a trigger firing); a 2xx answer acknowledges the batch. 5xx, 408, 429, timeouts and network errors are retried with backoff; ' +
    'other 4xx answers send the batch to the dead-letter topic. Optional HMAC-SHA256 signature header over the raw body. Function actions: `{ op: "post", body? }` (body replaces the event in `events`).',
  configSchema: httpSinkSchema,
  create: (config, dependencies) => new HttpSink(config, dependencies),
};
