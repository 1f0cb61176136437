import { CompressionTypes, type ProducerBatch, type RecordMetadata } from 'kafkajs';
import { KafkajsProducer } from './kafkajs.js';
import type { OutgoingRecord } from './transport.js';

/** A kafkajs producer whose sendBatch calls wait until the test settles them. */
function fakeProducer() {
  const calls: { batch: ProducerBatch; settle: (error?: Error) => void }[] = [];
  return {
    calls,
    producer: {
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      sendBatch: (batch: ProducerBatch) =>
        new Promise<RecordMetadata[]>((resolve, reject) => {
          calls.push({
            batch,
            settle: (error) =>
              error
                ? reject(error)
                : resolve((batch.topicMessages ?? []).map((t, i) => ({ topicName: t.topic, partition: 0, errorCode: 0, baseOffset: String(i * 100) }))),
          });
        }),
    },
  };
}

const record = (topic: string, value: string): OutgoingRecord => ({ topic, key: 'k', value });
const values = (batch: ProducerBatch | undefined): string[] =>
  (batch?.topicMessages ?? []).flatMap((t) => t.messages.map((m) => `${t.topic}:${String(m.value)}`));
const tick = () => new Promise((r) => setImmediate(r));

describe('KafkajsProducer', () => {
  it('keeps one sendBatch in flight and sends the calls queued meanwhile together, in call order', async () => {
    const fake = fakeProducer();
    const producer = new KafkajsProducer(fake.producer, CompressionTypes.None);
    const first = producer.send([record('a', '1')]);
    const second = producer.send([record('a', '2'), record('b', '3')]);
    const third = producer.send([record('a', '4')]);
    await tick();
    expect(fake.calls).toHaveLength(1);
    expect(values(fake.calls[0]?.batch)).toEqual(['a:1']);

    fake.calls[0]?.settle();
    expect(await first).toEqual([{ topic: 'a', partition: 0, offset: '0' }]);
    await tick();
    expect(fake.calls).toHaveLength(2);
    expect(values(fake.calls[1]?.batch)).toEqual(['a:2', 'a:4', 'b:3']);

    fake.calls[1]?.settle();
    expect(await second).toEqual([
      { topic: 'a', partition: 0, offset: '0' },
      { topic: 'b', partition: 0, offset: '100' },
    ]);
    expect(await third).toEqual([{ topic: 'a', partition: 0, offset: '0' }]);
  });

  it('fails every call of a failed sendBatch and goes on with the next ones', async () => {
    const fake = fakeProducer();
    const producer = new KafkajsProducer(fake.producer, CompressionTypes.None);
    const first = producer.send([record('a', '1')]);
    const second = producer.send([record('a', '2')]);
    const third = producer.send([record('a', '3')]);
    await tick();
    fake.calls[0]?.settle();
    await first;
    await tick();
    fake.calls[1]?.settle(Object.assign(new Error('broker gone'), { retriable: true }));
    await expect(second).rejects.toThrow(/Kafka produce failed: broker gone/);
    await expect(third).rejects.toThrow(/broker gone/);
    const fourth = producer.send([record('a', '4')]);
    await tick();
    expect(values(fake.calls[2]?.batch)).toEqual(['a:4']);
    fake.calls[2]?.settle();
    await expect(fourth).resolves.toHaveLength(1);
  });

  it('caps a coalesced sendBatch by bytes but always sends at least one call', async () => {
    const fake = fakeProducer();
    const producer = new KafkajsProducer(fake.producer, CompressionTypes.None, 1_000);
    const big = 'x'.repeat(600);
    const sends = [
      producer.send([record('a', 'first')]),
      producer.send([record('a', 's1')]),
      producer.send([record('a', big)]),
      producer.send([record('a', big)]),
      producer.send([record('a', 'y'.repeat(2_000))]),
    ];
    for (let i = 0; i < 4; i++) {
      await tick();
      fake.calls[i]?.settle();
    }
    await Promise.all(sends);
    expect(fake.calls.map((c) => values(c.batch).map((v) => v.length))).toEqual([[7], [4, 602], [602], [2_002]]);
  });

  it('resolves an empty send only after the sends before it', async () => {
    const fake = fakeProducer();
    const producer = new KafkajsProducer(fake.producer, CompressionTypes.None);
    let emptyDone = false;
    const first = producer.send([record('a', '1')]);
    const empty = producer.send([]).then((acks) => {
      emptyDone = true;
      return acks;
    });
    await tick();
    expect(emptyDone).toBe(false);
    fake.calls[0]?.settle();
    await first;
    expect(await empty).toEqual([]);
    expect(fake.calls).toHaveLength(1);
  });
});
