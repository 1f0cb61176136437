import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { compileConfig } from '../app/config.js';
import { isRetriable } from '../core/errors.js';
import { Health } from '../core/health.js';
import type { KafkaTransport, OutgoingRecord, Producer } from '../core/kafka/index.js';
import { silentLogger } from '../core/logger.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { TopicNames } from '../core/topics.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import { httpSinkKind } from './http.js';
import { kafkaSinkKind } from './kafka.js';
import { SinkWriteError, type SinkDependencies, type SinkRecord } from './sink.js';

function dependencies(kafka: Partial<KafkaTransport> = {}): SinkDependencies {
  const config = compileConfig({ kafka: { brokers: ['127.0.0.1:1'], topicPrefix: 'cf' }, mongodb: { uri: 'mongodb://127.0.0.1:1', db: 'meta' } }, {});
  const context = {
    config,
    logger: silentLogger,
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    health: new Health(),
    kafka,
    topics: new TopicNames('cf'),
    metadata: {},
  };
  return { trigger: 't', context: context as unknown as SinkDependencies['context'] };
}

function health(deps: SinkDependencies, sink: string) {
  return deps.context.health.report().components[`sink:t:${sink}`];
}

const records: SinkRecord[] = [0, 1, 2].map((seq) => ({
  event: makeChangeEvent({ db: 'shop', coll: 'orders', docId: seq, seq }),
  origin: { topic: 'x', partition: 0, offset: String(seq) },
}));

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

/** A producer factory whose broker is down until `up()`; counts producers made. */
function flakyKafka() {
  let reachable = false;
  const sent: OutgoingRecord[] = [];
  let made = 0;
  const kafka: Partial<KafkaTransport> = {
    producer: (): Producer => {
      made++;
      let connected = false;
      return {
        connect: async () => {
          if (!reachable) throw Object.assign(new Error('Connection error: connect ECONNREFUSED'), { retriable: true });
          connected = true;
        },
        send: async (out) => {
          if (!connected) throw new Error('producer not connected');
          sent.push(...out);
          return [];
        },
        disconnect: async () => undefined,
      } as Producer;
    },
  };
  return { kafka, sent, up: () => (reachable = true), made: () => made };
}

describe('sinks recover from a target that is down at start, without a restart', () => {
  it('kafka: starts while the broker is unreachable, health shows it, and delivers once it is back', async () => {
    const broker = flakyKafka();
    const deps = dependencies(broker.kafka);
    const sink = kafkaSinkKind.create(kafkaSinkKind.configSchema.parse({ name: 'out', kind: 'kafka', topic: 'copy', createTopics: false }), deps);
    await sink.start();
    expect(health(deps, 'out')).toMatchObject({ ok: false, detail: expect.stringContaining('ECONNREFUSED') });
    const error = await failure(sink.write(records));
    expect(isRetriable(error)).toBe(true);
    broker.up();
    await sink.write(records);
    expect(broker.sent).toHaveLength(3);
    expect(broker.made()).toBe(3); // a producer whose connect failed is never reused
    expect(health(deps, 'out')?.ok).toBe(true);
    await sink.stop();
  });

  it('kafka: a record the broker refuses for good fails the batch as not retriable (the processor isolates it)', async () => {
    const deps = dependencies({
      producer: () =>
        ({
          connect: async () => undefined,
          send: async () => {
            throw Object.assign(new Error('The request included a message larger than the max message size the server will accept'), {
              type: 'MESSAGE_TOO_LARGE',
              retriable: false,
            });
          },
          disconnect: async () => undefined,
        }) as Producer,
    });
    const sink = kafkaSinkKind.create(kafkaSinkKind.configSchema.parse({ name: 'out', kind: 'kafka', topic: 'copy', createTopics: false }), deps);
    await sink.start();
    const error = await failure(sink.write(records));
    expect(isRetriable(error)).toBe(false);
    expect((error as Error).message).toMatch(/refused the batch: .*larger than the max message size/);
    await sink.stop();
  });

  it('kafka: a documentKey that is not valid Extended JSON is refused for that record only', async () => {
    const broker = flakyKafka();
    broker.up();
    const sink = kafkaSinkKind.create(
      kafkaSinkKind.configSchema.parse({ name: 'out', kind: 'kafka', topic: 'copy', createTopics: false }),
      dependencies(broker.kafka),
    );
    await sink.start();
    const bad: SinkRecord = { ...(records[1] as SinkRecord), event: { ...(records[1] as SinkRecord).event, documentKey: { _id: { $numberLong: 'abc' } } } };
    const error = await failure(sink.write([records[0] as SinkRecord, bad, records[2] as SinkRecord]));
    expect(error).toBeInstanceOf(SinkWriteError);
    expect((error as SinkWriteError).rejected).toEqual([
      { index: 1, reason: expect.stringMatching(/documentKey\._id: invalid Extended JSON: \$numberLong string "abc"/) },
    ]);
    expect(broker.sent).toHaveLength(2);
    await sink.stop();
  });

  it('http: an endpoint that is not listening yet is retried and reached once it listens on the same port', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const deps = dependencies();
    const sink = httpSinkKind.create(
      httpSinkKind.configSchema.parse({
        name: 'hook',
        kind: 'http',
        url: `http://127.0.0.1:${port}/in`,
        timeoutMs: 1000,
        retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
      }),
      deps,
    );
    await sink.start();
    const error = await failure(sink.write(records));
    expect(isRetriable(error)).toBe(true);
    expect(health(deps, 'hook')).toMatchObject({ ok: false, detail: expect.stringContaining('not answering') });
    let bodies = 0;
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        bodies++;
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      await sink.write(records);
      expect(bodies).toBe(1);
      expect(health(deps, 'hook')?.ok).toBe(true);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await sink.stop();
    }
  });
});
