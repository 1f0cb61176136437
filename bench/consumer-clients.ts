/**
 * The processor path on each consumer client, alternated in one run (`node dist/bench/consumer-clients.js
 * [--rounds N] [bench options]`): the bare consumer + decode row and two processor rows of bench/processor.ts,
 * kafkajs and librdkafka taking turns (the order flips each round), so a noisy machine slows both alike.
 * Prints every figure and, per row, the median librdkafka / kafkajs ratio. Decides whether the librdkafka
 * consumer earns its keep (docs/performance.md, "Choosing the client").
 */
import { librdkafkaAvailable, type KafkaClientName } from '../core/kafka/index.js';
import { openBenchContext, parseBenchArgs } from './lib/context.js';
import { stages as processorStages } from './processor.js';

const ROWS = [
  'processor: bare consumer + decode on the same topic (no processor)',
  'processor: no function → no-op sink',
  'processor: trivial function → no-op sink',
];

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const roundsAt = argv.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(argv[roundsAt + 1]) : 3;
  if (roundsAt >= 0) argv.splice(roundsAt, 2);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds: a whole number of rounds, at least 1');
  if (!librdkafkaAvailable()) throw new Error('the librdkafka client does not load on this machine: nothing to compare');
  if (process.env['CHANGEFLOW_KAFKA_CLIENT']) throw new Error('unset CHANGEFLOW_KAFKA_CLIENT: it would put both turns on one client');
  const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);
  const opened = await openBenchContext(parseBenchArgs(argv), log);
  const rows = processorStages.filter((s) => ROWS.includes(s.name));
  const rates = new Map<string, Record<KafkaClientName, number[]>>(ROWS.map((name) => [name, { kafkajs: [], librdkafka: [] }]));
  try {
    for (let round = 1; round <= rounds; round++) {
      const order: KafkaClientName[] = round % 2 === 1 ? ['kafkajs', 'librdkafka'] : ['librdkafka', 'kafkajs'];
      for (const row of rows) {
        for (const client of order) {
          const figure = await row.run({ ...opened.ctx, client });
          rates.get(row.name)?.[client].push(figure.eventsPerSec);
          log(
            `round ${round} ${client.padEnd(10)} ${row.name}: ${Math.round(figure.eventsPerSec).toLocaleString()} events/s over ${figure.seconds.toFixed(1)} s (${figure.note ?? ''})`,
          );
        }
      }
    }
  } finally {
    await opened.close();
  }
  console.log(
    `| row (${opened.ctx.messageBytes} B events, ${opened.ctx.durationMs / 1000} s per figure, ${rounds} rounds) | kafkajs events/s | librdkafka events/s | librdkafka / kafkajs (median of rounds) |`,
  );
  console.log('| --- | --- | --- | ---: |');
  for (const [name, by] of rates) {
    const ratios = by.kafkajs.map((k, i) => (by.librdkafka[i] ?? 0) / k);
    const list = (values: number[]): string => values.map((v) => Math.round(v).toLocaleString('en-US')).join(', ');
    console.log(`| ${name} | ${list(by.kafkajs)} | ${list(by.librdkafka)} | ${median(ratios).toFixed(2)}× |`);
  }
}

await main();
