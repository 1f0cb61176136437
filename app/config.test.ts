import { parseConfigText } from './config.js';
import { ValidationError } from '../core/errors.js';

const minimal = `kafka: { brokers: ["127.0.0.1:9092"] }\n`;

function errorOf(text: string, env: Record<string, string> = {}): string {
  try {
    parseConfigText(text, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('changeflow.yaml', () => {
  it('applies defaults to a minimal file', () => {
    const config = parseConfigText(minimal, {});
    expect(config.kafka).toMatchObject({ brokers: ['127.0.0.1:9092'], client: 'kafkajs', producerClient: 'auto', topicPrefix: 'changeflow' });
    expect(config.http).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(config.grpc).toMatchObject({ host: '127.0.0.1', port: 50051 });
    expect(config.mongodb.db).toBe('changeflow');
    expect(config.triggers).toEqual([]);
  });

  it('names an unknown top-level key', () => {
    expect(errorOf(`${minimal}kafak: {}\n`)).toMatch(/kafak: unknown key/);
  });

  it('names an unknown nested key with its path', () => {
    expect(errorOf(`kafka: { brokers: ["a:1"], topicPrefx: x }\n`)).toMatch(/kafka\.topicPrefx: unknown key/);
  });

  it('names a key with the wrong type', () => {
    expect(errorOf(`${minimal}http: { port: "eighty" }\n`)).toMatch(/http\.port: .*number/i);
  });

  it('says the broker list is missing', () => {
    expect(errorOf(`kafka: {}\n`)).toMatch(/kafka\.brokers: .*list of brokers/);
    expect(errorOf(`kafka: { brokers: [] }\n`)).toMatch(/kafka\.brokers: needs at least one broker/);
  });

  it('refuses a compression KafkaJS consumers cannot read, naming the way out', () => {
    expect(errorOf(`kafka: { brokers: ["a:1"], compression: lz4 }\n`)).toMatch(
      /kafka\.compression: KafkaJS consumers .*cannot read lz4 batches: use gzip or none, or set kafka\.client: librdkafka/,
    );
    expect(parseConfigText(`kafka: { brokers: ["a:1"], compression: lz4, client: librdkafka }\n`, {}).kafka.compression).toBe('lz4');
    expect(parseConfigText(`kafka: { brokers: ["a:1"], compression: gzip }\n`, {}).kafka.compression).toBe('gzip');
  });

  it("takes the trigger consumers' session timeout, 30 s by default, within the broker's bounds", () => {
    expect(parseConfigText(minimal, {}).kafka.sessionTimeoutMs).toBe(30_000);
    expect(parseConfigText(`kafka: { brokers: ["127.0.0.1:9092"], sessionTimeoutMs: 6000 }\n`, {}).kafka.sessionTimeoutMs).toBe(6_000);
    expect(errorOf(`kafka: { brokers: ["127.0.0.1:9092"], sessionTimeoutMs: 1000 }\n`)).toMatch(/kafka.sessionTimeoutMs: at least 6000/);
  });

  it('names the index of a bad list item', () => {
    expect(errorOf(`kafka: { brokers: ["ok:1", "no-port"] }\n`)).toMatch(/kafka\.brokers\[1\]: expected "host:port"/);
  });

  it('takes brokers, MongoDB and Redis from the environment', () => {
    const config = parseConfigText(`mongodb: { uri: "mongodb://file" }\n`, {
      KAFKA_BROKERS: 'h1:1, h2:2',
      MONGODB_URI: 'mongodb://env',
      REDIS_URL: 'redis://r:1',
    });
    expect(config.kafka.brokers).toEqual(['h1:1', 'h2:2']);
    expect(config.mongodb.uri).toBe('mongodb://env');
    expect(config.redis?.url).toBe('redis://r:1');
  });

  it('rejects a trigger naming a function that does not exist', () => {
    const text = `${minimal}triggers:\n  - name: t1\n    source: { db: shop, coll: orders }\n    function: nope\n    sinks: [{ name: cache, kind: redis }]\n`;
    expect(errorOf(text)).toMatch(/triggers\[0\]\.function: no function named "nope"/);
  });

  it('asks for a schema registry when a source writes Avro, and accepts one from the environment', () => {
    const text = `${minimal}sources:\n  - { name: shop, uri: "mongodb://127.0.0.1:27017", watch: { db: shop }, format: avro }\n`;
    expect(errorOf(text)).toMatch(/sources\[0\]\.format: avro needs a Confluent-compatible schema registry; set kafka\.schemaRegistry\.url/);
    expect(parseConfigText(text, { SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081' }).kafka.schemaRegistry).toEqual({ url: 'http://127.0.0.1:8081' });
  });

  it('checks each sink entry against its kind when the file is loaded, naming the key path', () => {
    const text = `${minimal}triggers:\n  - { name: t, source: { topic: x }, sinks: [{ name: copy, kind: mongodb, db: shop }, { name: c, kind: redis, ttlSecond: 5 }, { name: z, kind: nope }] }\n`;
    const message = errorOf(text);
    expect(message).toMatch(/triggers\[0\]\.sinks\[0\]\.uri:/);
    expect(message).toMatch(/triggers\[0\]\.sinks\[1\]\.ttlSecond: unknown key/);
    expect(message).toMatch(/triggers\[0\]\.sinks\[2\]\.kind: unknown sink kind "nope"; known kinds: mongodb, redis, audit, kafka, http/);
  });

  it('takes sources of the default kind without `kind`, and names an unknown kind', () => {
    const ok = parseConfigText(`${minimal}sources:\n  - { name: shop, uri: "mongodb://127.0.0.1:27017", watch: { db: shop, coll: orders } }\n`, {});
    expect(ok.sources[0]).toMatchObject({ kind: 'mongodb', readers: [] });
    expect(errorOf(`${minimal}sources:\n  - { name: shop, kind: postgres, uri: "mongodb://x" }\n`)).toMatch(
      /sources\[0\]\.kind: unknown source kind; known kinds: mongodb/,
    );
  });

  it('rejects names outside the naming rules of docs/configuration.md', () => {
    const text = `${minimal}triggers:\n  - name: "bad name!"\n    source: { topic: x }\n    sinks: [{ name: cache, kind: redis }]\n`;
    expect(errorOf(text)).toMatch(/triggers\[0\]\.name: must be 1–64 characters/);
  });

  it('reports YAML syntax errors', () => {
    expect(errorOf(`kafka: { brokers: [\n`)).toMatch(/not valid YAML/);
  });

  it('accepts the example sections of docs/configuration.md', () => {
    const text = `${minimal}sources:
  - name: shop
    uri: "mongodb://127.0.0.1:27017"
    watch: { db: shop, coll: orders }
    operationTypes: [insert, update, replace, delete]
    fullDocument: updateLookup
    snapshot: initial
functions:
  - name: orders-to-cache
    code: |
      export default function handle(events) { return [] }
triggers:
  - name: orders-cache
    source: { db: shop, coll: orders }
    operationTypes: [insert, update, replace, delete]
    function: orders-to-cache
    sinks:
      - { name: cache, kind: redis }
      - { name: copy, kind: mongodb, uri: "mongodb://x", db: shop_copy, coll: orders }
      - { name: audit, kind: audit }
eventsync:
  - { serviceName: "svc", trigger: { type: window, observationPeriod: 3600 }, endpoints: [ { eventKey: entry1 } ], target: { topic: "out" } }
`;
    const config = parseConfigText(text, {});
    expect(config.sources[0]?.watch).toEqual({ db: 'shop', coll: 'orders' });
    expect(config.triggers[0]?.sinks[1]).toMatchObject({ kind: 'mongodb', db: 'shop_copy' });
    expect(config.eventsync[0]?.trigger.keepEventAfterTrigger).toBe(false);
  });
});
