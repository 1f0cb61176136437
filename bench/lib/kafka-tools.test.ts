import { parseConsumerPerf, parseProducerPerf } from './kafka-tools.js';

describe('Kafka perf tool output', () => {
  it('reads the producer summary line', () => {
    const out =
      'WARN something\n50000 records sent, 16795.431643 records/sec (16.29 MB/sec), 1000.47 ms avg latency, 1459.00 ms max latency, 1063 ms 50th, 1449 ms 95th, 1455 ms 99th, 1458 ms 99.9th.\n';
    expect(parseProducerPerf(out)).toEqual({ records: 50000, recordsPerSec: 16795.431643, mbPerSec: 16.29, p50Ms: 1063, p99Ms: 1455 });
  });

  it('reads the consumer CSV line', () => {
    const out =
      'Warning: --messages is deprecated.\nstart.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n2026-11-23 13:32:49:047, 2026-11-23 13:32:50:200, 48.4896, 42.0551, 50000, 43365.1344, 400, 753, 64.3952, 66401.0624\n';
    expect(parseConsumerPerf(out)).toEqual({ messages: 50000, fetchMs: 753, mb: 48.4896 });
  });

  it('says so when a tool printed no figures', () => {
    expect(() => parseProducerPerf('Exception in thread main')).toThrow(/no summary/);
    expect(() => parseConsumerPerf('nothing')).toThrow(/no result/);
  });
});
