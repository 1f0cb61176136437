import { request, Agent } from 'node:http';
import type { Registry } from 'prom-client';
import { startApp, type RunningApp } from '../../core/app.js';
import { compileCoreConfig } from '../../core/config.js';
import type { KafkaTransport } from '../../core/kafka/index.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { createMetricsRegistry } from '../../core/metrics.js';
import { EventSyncComponent } from './component.js';
import { eventSyncConfigSchema, type EventSyncConfigInput } from './config.js';
import { parseOrThrow } from '../../core/schema-errors.js';
import type { EventSyncMessage } from './message.js';
import type { Clock } from './service.js';
import { InternalError } from '../../core/errors.js';

/**
 * Starts the service with only the EventSync component, on a free port (tests and the bench).
 * Not used by the running service.
 */
export interface EventSyncInstance {
  app: RunningApp;
  component: EventSyncComponent;
  url: string;
  stop(): Promise<void>;
}

export async function startEventSyncInstance(options: {
  services: EventSyncConfigInput[];
  brokers: string;
  mongodbUri: string;
  db: string;
  maxBodyBytes?: number;
  clock?: Clock;
  logger?: Logger;
  metrics?: Registry;
}): Promise<EventSyncInstance> {
  const config = compileCoreConfig(
    {
      kafka: { brokers: options.brokers.split(','), partitions: 1 },
      mongodb: { uri: options.mongodbUri, db: options.db },
      http: { host: '127.0.0.1', port: 0, maxBodyBytes: options.maxBodyBytes ?? 1_048_576 },
    },
    {},
  );
  const services = options.services.map((service, i) => parseOrThrow(eventSyncConfigSchema, service, 'eventsync', `eventsync[${i}]`));
  let component: EventSyncComponent | null = null;
  const app = await startApp(
    config,
    [
      () => {
        component = new EventSyncComponent(services, { ...(options.clock ? { clock: options.clock } : {}) });
        return component;
      },
    ],
    { logger: options.logger ?? silentLogger, metrics: options.metrics ?? createMetricsRegistry({ defaultMetrics: false }) },
  );
  if (!component) throw new InternalError('EventSync component was not created');
  return { app, component, url: app.httpUrl, stop: () => app.stop() };
}

export interface HttpResult {
  status: number;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** A plain HTTP call that keeps header-name case as given (like curl). */
export function httpCall(method: string, url: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, headers: { ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}), ...headers }, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text, json: <T>() => JSON.parse(text) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Reads every EventSync message published to `topic` from the beginning, until stopped. */
export async function collectMessages(kafka: KafkaTransport, topic: string, groupId: string): Promise<{ messages: EventSyncMessage[]; stop(): Promise<void> }> {
  const messages: EventSyncMessage[] = [];
  const consumer = kafka.consumer({ groupId, fromBeginning: true });
  await consumer.connect();
  await consumer.subscribe([topic]);
  await consumer.run(async (batch) => {
    for (const r of batch.records) if (r.value) messages.push(JSON.parse(r.value.toString('utf8')) as EventSyncMessage);
  });
  return { messages, stop: () => consumer.disconnect() };
}

/** Closes the keep-alive sockets of httpCall (end of a test file or bench). */
export function closeHttpAgent(): void {
  agent.destroy();
}
