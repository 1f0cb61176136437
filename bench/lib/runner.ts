import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../core/infra/paths.js';
import { loadLibrdkafka } from '../../core/kafka/librdkafka-binding.js';
import { LIMIT, stages as limitStages } from '../limits.js';
import { openBenchContext, parseBenchArgs } from './context.js';
import { writeResults } from './results.js';
import type { BenchContext, BenchRow, BenchStage } from './stage.js';
import { formatTable } from './table.js';
import { rssMiB } from './timing.js';

/** The names of the rows a stage is compared with (one, or several whose slowest counts). */
function limitsOf(stage: BenchStage, ctx: BenchContext): readonly string[] {
  const named = typeof stage.limitName === 'function' ? stage.limitName(ctx) : stage.limitName;
  if (named === undefined) return [];
  return typeof named === 'string' ? [named] : named;
}

/** Of the rows named, the slowest that ran without error. */
function slowestOf(rows: readonly BenchRow[], names: readonly string[]): BenchRow | undefined {
  const candidates = rows.filter((r) => names.includes(r.name) && !r.error && r.eventsPerSec > 0);
  return candidates.reduce<BenchRow | undefined>((slowest, r) => (!slowest || r.eventsPerSec < slowest.eventsPerSec ? r : slowest), undefined);
}

/** Runs stages in order; a failing stage becomes a FAILED row and the run goes on. */
export async function runStages(stages: readonly BenchStage[], ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const limitNames = new Map<BenchRow, readonly string[]>();
  for (const stage of stages) {
    ctx.log(`▶ ${stage.name}`);
    const names = limitsOf(stage, ctx);
    const limitName = names.length === 1 ? names[0] : undefined;
    try {
      // A stage that hangs (a crashed consumer never resolving) must not hang the whole run.
      const limitMs = ctx.durationMs * 6 + 180_000;
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        stage.run(ctx),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no result after ${limitMs / 1000} s`)), limitMs))),
      ]).finally(() => clearTimeout(timer));
      const row: BenchRow = { name: stage.name, kind: stage.kind, ...result, rssMiB: result.rssMiB ?? rssMiB() };
      row.mbPerSec ??= (result.eventsPerSec * ctx.messageBytes) / 1048576;
      if (limitName) row.limitName = limitName;
      limitNames.set(row, names);
      rows.push(row);
      ctx.log(`  ${Math.round(result.eventsPerSec).toLocaleString()} events/s over ${result.seconds.toFixed(1)} s`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      ctx.log(`  FAILED: ${message}`);
      rows.push({ name: stage.name, kind: stage.kind, eventsPerSec: 0, events: 0, seconds: 0, error: message, ...(limitName ? { limitName } : {}) });
    }
  }
  for (const stage of stages)
    await stage.finish?.().catch((error: unknown) => ctx.log(`  ${stage.name}: clean-up failed: ${error instanceof Error ? error.message : String(error)}`));
  for (const row of rows) {
    const limit = slowestOf(rows, limitNames.get(row) ?? []);
    if (!limit || row.error) continue;
    row.limitName = limit.name;
    row.ratio = row.eventsPerSec / limit.eventsPerSec;
    if (row.serverCpuSecPer1k && limit.serverCpuSecPer1k) row.serverCpuRatio = row.serverCpuSecPer1k / limit.serverCpuSecPer1k;
  }
  return rows;
}

/** The figures the issue asks about, computed from the rows. */
function summary(rows: readonly BenchRow[]): Record<string, number> {
  const rate = (name: string) => rows.find((r) => r.name === name && !r.error)?.eventsPerSec;
  const out: Record<string, number> = {};
  const pairs: [string, string, string][] = [
    ['produceLibrdkafkaOverKafkajs', LIMIT.produce('librdkafka'), LIMIT.produce('kafkajs')],
    ['consumeLibrdkafkaOverKafkajs', LIMIT.consume('librdkafka'), LIMIT.consume('kafkajs')],
  ];
  for (const [key, a, b] of pairs) {
    const x = rate(a);
    const y = rate(b);
    if (x && y) out[key] = x / y;
  }
  return out;
}

/**
 * Parses the command line, opens the servers, runs `stages` (with `--only`, just the matching ones and the
 * limits they name), prints the table and writes the results file.
 */
export async function runBench(
  stages: readonly BenchStage[],
  argv: string[] = process.argv.slice(2),
  focus?: (stage: BenchStage) => boolean,
): Promise<BenchRow[]> {
  const args = parseBenchArgs(argv);
  const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);
  const startedAt = new Date().toISOString();
  const opened = await openBenchContext(args, log);
  const { ctx } = opened;
  try {
    log(
      `kafka ${ctx.kafka}, mongodb ${ctx.mongodb}; ${ctx.messageBytes} B messages, ${ctx.durationMs / 1000} s per figure, changeflow rows on ${ctx.client}${ctx.producerClient === ctx.client ? '' : ` (producing on ${ctx.producerClient})`}${ctx.quick ? ' (quick: figures not meaningful)' : ''}`,
    );
    // Stages picked by `focus` and `--only`, plus the limit rows they are compared with.
    const picked = stages.filter((s) => (focus ? focus(s) : true) && (!args.only || s.name.includes(args.only)));
    const limits = new Set(picked.flatMap((s) => limitsOf(s, ctx)));
    const selected = stages.filter((s) => picked.includes(s) || limits.has(s.name));
    const rows = await runStages(selected, ctx);
    const loaded = loadLibrdkafka();
    const file = writeResults(
      join(packageRoot(), 'bench', 'results'),
      {
        startedAt,
        quick: ctx.quick,
        durationMs: ctx.durationMs,
        messageBytes: ctx.messageBytes,
        partitions: ctx.partitions,
        client: ctx.client,
        producerClient: ctx.producerClient,
        kafka: ctx.kafka,
        mongodb: ctx.mongodb.replace(/\/\/[^@/]*@/, '//'),
        librdkafkaVersion: 'module' in loaded ? loaded.module.librdkafkaVersion : null,
      },
      rows,
      summary(rows),
    );
    const ratios = summary(rows);
    console.log(formatTable(rows));
    for (const [key, value] of Object.entries(ratios)) console.log(`${key}: ${value.toFixed(2)}×`);
    console.log(`\nresults: ${file}`);
    if (rows.some((r) => r.error)) process.exitCode = 1;
    return rows;
  } finally {
    await opened.close();
  }
}

/**
 * For bench/<name>.ts files that also run alone (`npm run bench:<name>`): when the file is the entry
 * point, runs its stages beside the limit rows they name.
 */
export async function runIfMain(metaUrl: string, stages: readonly BenchStage[]): Promise<void> {
  if (!process.argv[1] || fileURLToPath(metaUrl) !== process.argv[1]) return;
  await runBench([...limitStages, ...stages], process.argv.slice(2), (s) => stages.includes(s));
}
