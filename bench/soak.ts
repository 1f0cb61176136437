/**
 * Fault soak (`npm run soak -- --minutes N --seed S`): the whole service as a child process — a source
 * per collection of MongoDB A (snapshot first), a pass-through sync to B, a Redis function trigger, an
 * audit trigger for deletes and a Kafka-sink trigger — on servers of its own (Kafka, two
 * mongo-java-servers behind fault proxies, redis-server), while a seeded writer changes A at a fixed
 * rate and seeded faults hit every part: kills and restarts of the service, the broker and Redis,
 * SIGSTOP pauses, proxy drops, blackholes and trickles. After the writer stops and the pipeline settles
 * it checks B == A, the cache, the audit chain, the Kafka-sink topic (every write at least once) and the
 * dead letters; prints a report, writes bench/results/soak-<date>.json and exits 1 on any loss.
 * See docs/reliability.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { z } from 'zod';
import type { IncomingRecord } from '../core/kafka/index.js';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { TopicReader } from '../testing/mongodb/topic-reader.js';
import { checkAudit, checkCache, checkDeadLetters, checkDeliveries, compareCollections } from './lib/soak-checks.js';
import { planFaults, type FaultRecord, type PlannedFault } from './lib/soak-faults.js';
import { serviceConfig, soakNames, SoakService } from './lib/soak-pipeline.js';
import { FaultProxy } from './lib/soak-proxy.js';
import { longestLag, recoveryTimes, writeSoakReport } from './lib/soak-report.js';
import { removeRunData } from './lib/soak-cleanup.js';
import { proxiedMongoUri } from './lib/soak-endpoints.js';
import { pause, resume, skippedFaults, startSoakServers, type ExternalServers, type SoakServers } from './lib/soak-servers.js';
import { killDescendants, Teardown } from './lib/soak-teardown.js';
import { SoakWriter } from './lib/soak-writer.js';

const USAGE = `npm run soak -- [--minutes N] [--seed S] [--rate W] [--ids N] [--settle-seconds S]
                    [--kafka HOST:PORT] [--mongo-a URI] [--mongo-b URI] [--redis URL] [--kill-mongo]
  --minutes         how long the writer runs while faults are injected (default 3)
  --seed            seed of the writes and the fault schedule (default: from the clock; printed)
  --rate            writes per second (default 100)
  --ids             documents per collection the writer draws from (default 200)
  --settle-seconds  how long the pipeline may take to catch up after the writer stops (default 60 + 15 per minute, at most 180)
  --kafka, --mongo-a, --mongo-b, --redis
                    run against a server of yours instead of the soak's own (A must serve change streams);
                    kills and pauses of it are skipped, proxy faults of A and B still apply (docs/reliability.md)
  --kill-mongo      A and B on H2 files instead of memory, and a-kill / b-kill faults (runs of a few minutes:
                    a restart reads the whole stored oplog back, see docs/reliability.md)`;

const argsSchema = z.object({
  minutes: z.coerce.number().positive('--minutes: e.g. --minutes 2'),
  seed: z.coerce.number().int('--seed: a whole number'),
  rate: z.coerce.number().positive('--rate: writes per second'),
  ids: z.coerce.number().int().min(10, '--ids: at least 10'),
  settleSeconds: z.coerce.number().positive(),
  kafka: z.string().optional(),
  mongoA: z.string().optional(),
  mongoB: z.string().optional(),
  redis: z.string().url('--redis: a URL, e.g. redis://127.0.0.1:6379').optional(),
  killMongo: z.boolean(),
});

function parse(argv: string[]): z.infer<typeof argsSchema> {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string', default: '3' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      rate: { type: 'string', default: '100' },
      ids: { type: 'string', default: '200' },
      'settle-seconds': { type: 'string' },
      kafka: { type: 'string' },
      'mongo-a': { type: 'string' },
      'mongo-b': { type: 'string' },
      redis: { type: 'string' },
      'kill-mongo': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  // Long enough for the backlog of the last faults; short enough that a 2-minute run ends within 4.
  const settleSeconds = values['settle-seconds'] ?? String(Math.min(180, 60 + 15 * Number(values.minutes)));
  const parsed = argsSchema.safeParse({ ...values, settleSeconds, mongoA: values['mongo-a'], mongoB: values['mongo-b'], killMongo: values['kill-mongo'] });
  if (!parsed.success) throw new Error(`${parsed.error.issues.map((i) => i.message).join('\n')}\n\n${USAGE}`);
  return parsed.data;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (line: string): void => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);

interface Harness {
  servers: SoakServers;
  proxyA: FaultProxy;
  proxyB: FaultProxy;
  service: SoakService;
  redisRestartedAt: number | undefined;
}

async function inject(fault: PlannedFault, h: Harness): Promise<void> {
  const d = fault.durationMs;
  switch (fault.kind) {
    case 'service-kill':
      await h.service.kill();
      await sleep(d);
      await h.service.restart();
      return;
    case 'broker-kill':
      await h.servers.broker.restart?.();
      return;
    case 'a-kill':
    case 'b-kill': {
      const server = fault.kind === 'a-kill' ? h.servers.a : h.servers.b;
      if (!server.restart) throw new Error(`${fault.kind}: ${server.name} is not the soak's own server (the plan should have skipped it)`);
      await server.restart(d);
      return;
    }
    case 'redis-restart':
      await h.servers.redis?.restart?.();
      h.redisRestartedAt = Date.now();
      return;
    case 'pause-service': {
      const pid = h.service.pid;
      process.kill(pid, 'SIGSTOP');
      await sleep(d);
      process.kill(pid, 'SIGCONT');
      return;
    }
    case 'pause-broker':
    case 'pause-a':
    case 'pause-b':
    case 'pause-redis': {
      const server = { 'pause-broker': h.servers.broker, 'pause-a': h.servers.a, 'pause-b': h.servers.b, 'pause-redis': h.servers.redis }[fault.kind];
      if (!server) throw new Error(`${fault.kind}: no such server (the plan should have skipped it)`);
      pause(server);
      await sleep(d);
      resume(server);
      return;
    }
    default: {
      const [, target, mode] = fault.kind === 'b-outage' ? ['', 'b', 'blackhole'] : fault.kind.split('-');
      const proxy = target === 'a' ? h.proxyA : h.proxyB;
      proxy.setMode(mode === 'drop' ? 'drop' : mode === 'trickle' ? 'trickle' : 'blackhole');
      await sleep(d);
      proxy.setMode('pass');
    }
  }
}

async function runFaults(plan: readonly PlannedFault[], h: Harness, startedAt: number, done: FaultRecord[]): Promise<void> {
  for (const fault of plan) {
    const wait = startedAt + fault.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    const startedFault = Date.now();
    log(`fault ${fault.kind} (${fault.durationMs / 1000} s)`);
    await inject(fault, h);
    done.push({ ...fault, startedAt: startedFault, endedAt: Date.now() });
  }
}

async function main(teardown: Teardown): Promise<number> {
  const args = parse(process.argv.slice(2));
  // The service must talk to the soak's servers only, whatever this shell points at.
  for (const name of ['KAFKA_BROKERS', 'MONGODB_URI', 'REDIS_URL']) delete process.env[name];
  const runId = `${args.seed}-${Date.now().toString(36)}`;
  const names = soakNames(runId.replace(/[^a-z0-9]/gi, ''));
  const workDir = mkdtempSync(join(tmpdir(), 'changeflow-soak-'));
  // Kept after a failure (the servers' logs are in it), removed after a pass.
  let keepWorkDir = true;
  teardown.add('work dir', () => (keepWorkDir ? log(`work dir kept for a look: ${workDir}`) : rmSync(workDir, { recursive: true, force: true })));
  log(`seed ${args.seed}, ${args.minutes} min at ${args.rate} writes/s on ${names.collections.length}×${args.ids} documents; work dir ${workDir}`);
  const began = Date.now();
  const external: ExternalServers = { kafka: args.kafka, mongoA: args.mongoA, mongoB: args.mongoB, redis: args.redis };
  const serverOptions = { durableMongo: args.killMongo };
  const servers = await startSoakServers(workDir, log, external, serverOptions);
  teardown.add('servers', () => servers.stop());
  const skipped = skippedFaults(servers, external, serverOptions);
  for (const why of new Set(skipped.map((s) => s.why)))
    log(
      `skipping ${skipped
        .filter((s) => s.why === why)
        .map((s) => s.kind)
        .join(', ')}: ${why}`,
    );
  const proxyA = new FaultProxy(servers.a);
  const proxyB = new FaultProxy(servers.b);
  teardown.add('proxies', () => Promise.all([proxyA.stop(), proxyB.stop()]).then(() => undefined));
  await Promise.all([proxyA.start(), proxyB.start()]);
  const redisUrl = servers.redis?.url ?? 'redis://127.0.0.1:6379';
  const config = serviceConfig(names, {
    brokers: servers.broker.brokers,
    aUri: proxiedMongoUri(servers.a.uri, proxyA.port),
    bUri: proxiedMongoUri(servers.b.uri, proxyB.port),
    redisUrl,
  });
  const service = new SoakService(config);
  teardown.add('service', () => service.stop());
  const h: Harness = { servers, proxyA, proxyB, service, redisRestartedAt: undefined };
  const clientA = new MongoClient(servers.a.uri, { serverSelectionTimeoutMS: 60_000 });
  const clientB = new MongoClient(servers.b.uri, { serverSelectionTimeoutMS: 60_000 });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const kafka = createKafkajsTransport({ brokers: [servers.broker.brokers] });
  teardown.add('clients', async () => {
    redis.disconnect();
    await Promise.all([clientA.close(), clientB.close()]);
  });
  let reader: TopicReader | undefined;
  teardown.add('topic reader', () => reader?.stop());
  try {
    await Promise.all([clientA.connect(), clientB.connect()]);
    const dbA = clientA.db(names.dbA);
    const admin = kafka.admin();
    await admin.connect();
    await admin.ensureTopics([
      ...names.collections.map((c) => ({ topic: `${names.prefix}.${names.dbA}.${c}`, partitions: 3 })),
      { topic: names.outTopic, partitions: 3 },
    ]);
    await admin.disconnect();

    const writer = new SoakWriter({ db: dbA, collections: names.collections, idsPerCollection: args.ids, ratePerSec: args.rate, seed: args.seed });
    // A failed run must not leave it retrying against closed clients (it would keep the process alive).
    teardown.add('writer', () => writer.stop());
    // Documents before the service starts: the sources' initial snapshot copies them.
    await writer.prefill(Math.floor(args.ids / 2));
    service.start();
    const ready = Date.now();
    for (;;) {
      const counts = await Promise.all(names.collections.map((c) => clientB.db(names.dbB).collection(c).countDocuments()));
      if (counts.every((n) => n >= Math.floor(args.ids / 2))) break;
      if (Date.now() - ready > 120_000) throw new Error(`the snapshot did not reach B in 120 s; service output:\n${service.tail(30)}`);
      await sleep(500);
    }
    log(`service up, snapshot in B after ${((Date.now() - ready) / 1000).toFixed(1)} s; writer and faults start`);

    const windowMs = args.minutes * 60_000;
    const plan = planFaults({ seed: args.seed, windowMs, skip: new Set(skipped.map((s) => s.kind)) });
    const faults: FaultRecord[] = [];
    const writerStarted = Date.now();
    writer.start();
    // Caught at once (not only when awaited), so a failed fault still ends in the teardown below.
    const faulting = runFaults(plan, h, writerStarted, faults).catch((error: unknown) => {
      log(`fault injection failed: ${error instanceof Error ? error.message : String(error)}`);
      throw error;
    });
    faulting.catch(() => undefined);
    const unplanned = watchService(service, () => Date.now() - writerStarted < windowMs + args.settleSeconds * 1000);
    await sleep(windowMs);
    await faulting;
    await writer.stop();
    const writerStopped = Date.now();
    log(`writer stopped: ${writer.log.length} writes; settling (at most ${args.settleSeconds} s)`);

    reader = await new TopicReader(kafka, [names.outTopic, ...Object.values(names.triggers).map((t) => `${names.prefix}.__dlq.${t}`)]).start();
    const meta = clientA.db(names.meta);
    let settledAfter: number | undefined;
    let outcome;
    for (;;) {
      const out = reader.records.filter((r) => r.topic === names.outTopic);
      const deliveries = checkDeliveries(writer.log, out);
      const copies = await compareCollections(dbA, clientB.db(names.dbB), names.collections);
      const cache = await checkCache(redis, names.redisKeyPrefix, dbA, names.collections, writer.log, h.redisRestartedAt);
      const audit = await checkAudit(meta, names.auditCollection, writer.log);
      const settled =
        deliveries.missing.length === 0 && copies.every((c) => c.differing.length === 0) && cache.wrong.length === 0 && audit.ok && audit.missingDeletes === 0;
      outcome = { deliveries, copies, cache, audit };
      if (settled) {
        settledAfter = Date.now() - writerStopped;
        // Late dead letters and repeats: give the triggers a moment more before reading the topics for the report.
        await sleep(3_000);
        outcome.deliveries = checkDeliveries(
          writer.log,
          reader.records.filter((r) => r.topic === names.outTopic),
        );
        break;
      }
      if (Date.now() - writerStopped > args.settleSeconds * 1000) break;
      await sleep(2_000);
    }
    const { deliveries, copies, cache, audit } = outcome;
    const deadLetters = checkDeadLetters(reader.records.filter((r) => r.topic !== names.outTopic));
    const measured = recoveryTimes(faults, writer.log, deliveries.firstDelivered);
    const lag = longestLag(writer.log, deliveries.firstDelivered);
    const faultsByKind: Record<string, number> = {};
    for (const f of faults) faultsByKind[f.kind] = (faultsByKind[f.kind] ?? 0) + 1;
    const losses = deliveries.missing.length;
    const failures = [
      ...(losses > 0 ? [`${losses} writes never reached the Kafka-sink topic`] : []),
      ...copies
        .filter((c) => c.differing.length > 0)
        .map((c) => `B.${c.coll} differs from A in ${c.differing.length} documents (first: ${c.differing.slice(0, 3).join(', ')})`),
      ...(cache.wrong.length > 0 ? [`Redis wrong for ${cache.wrong.length} keys (first: ${cache.wrong.slice(0, 3).join('; ')})`] : []),
      ...(!audit.ok || audit.missingDeletes > 0
        ? [`audit: chain ${audit.ok ? 'verifies' : `broken (${audit.broken.join('; ')})`}, ${audit.missingDeletes} deletes missing`]
        : []),
      ...(deadLetters.unexplained.length > 0
        ? [`${deadLetters.unexplained.length} unexplained dead letters (first: ${deadLetters.unexplained.slice(0, 3).join(' | ')})`]
        : []),
    ];
    const report = {
      seed: args.seed,
      minutes: args.minutes,
      ratePerSec: args.rate,
      ok: failures.length === 0,
      failures,
      totalSeconds: Math.round((Date.now() - began) / 1000),
      settledAfterSeconds: settledAfter === undefined ? null : Math.round(settledAfter / 100) / 10,
      writes: { total: writer.log.length, byOp: countBy(writer.log.map((e) => e.op)) },
      delivered: { records: deliveries.records, distinctEvents: deliveries.distinctEvents, repeats: deliveries.repeats, losses },
      longestLagMs: lag.ms,
      faultsByKind,
      skippedFaults: skipped,
      servers: Object.fromEntries(
        (['broker', 'a', 'b', 'redis'] as const).map((key) => [
          key,
          servers[key]?.pid === undefined ? `${servers[key]?.host ?? '127.0.0.1'}:${servers[key]?.port ?? 6379} (not the soak's own)` : "the soak's own",
        ]),
      ),
      faults: measured.map((f) => ({
        kind: f.kind,
        atSeconds: Math.round(f.atMs / 100) / 10,
        durationMs: f.durationMs,
        startedAt: new Date(f.startedAt).toISOString(),
        endedAt: new Date(f.endedAt).toISOString(),
        recoveryMs: f.recoveryMs,
      })),
      serviceRestarts: { planned: service.restarts - unplanned.count, unplanned: unplanned.count, unplannedExits: unplanned.exits },
      b: copies.map((c) => ({
        coll: c.coll,
        a: c.a,
        b: c.b,
        differing: c.differing.length,
        fieldOrderOnly: c.fieldOrderOnly,
        samples: c.samples.map((x) => ({ ...x, events: eventsOf(reader?.records ?? [], names.outTopic, c.coll, x.id) })),
      })),
      redis: {
        private: servers.redis !== null,
        restartedAt: h.redisRestartedAt ? new Date(h.redisRestartedAt).toISOString() : null,
        keysHeld: cache.checkedKeys,
        keysExpected: cache.expectedLive,
        wrong: cache.wrong.length,
      },
      audit: { verifies: audit.ok, records: audit.records, missingDeletes: audit.missingDeletes },
      deadLetters: { total: deadLetters.total, explained: deadLetters.explained, unexplained: deadLetters.unexplained.length },
      missingWrites: deliveries.missing.slice(0, 50),
    };
    const file = writeSoakReport(join(process.cwd(), 'bench', 'results'), report);
    printSummary(report, measured);
    log(`report: ${file}`);
    if (failures.length > 0) {
      console.log(`SOAK FAILED (seed ${args.seed}; rerun with --seed ${args.seed}):\n  ${failures.join('\n  ')}`);
      if (losses > 0)
        console.log(
          `missing writer-log entries:\n${deliveries.missing
            .slice(0, 50)
            .map((e) => `  #${e.seq} ${new Date(e.at).toISOString()} ${e.op} ${e.coll}:${e.id}`)
            .join('\n')}`,
        );
      console.log(`service output (last lines):\n${service.tail(20)}`);
      if (Object.values(external).some(Boolean))
        log(
          `this run's data stays on your servers for a look: databases ${names.dbA}, ${names.meta}, ${names.dbB}, Redis keys ${names.redisKeyPrefix}*, topics ${names.prefix}.*`,
        );
      return 1;
    }
    keepWorkDir = false;
    await service.stop();
    await removeRunData({ clientA, clientB, redis }, names, external, log).catch((error: unknown) =>
      log(`could not remove this run's data from your servers: ${String(error)}`),
    );
    return 0;
  } finally {
    await teardown.run();
  }
}

/** Restarts the service if it exits on its own (say, started while the broker was down); counts those restarts and keeps why it ended. */
function watchService(service: SoakService, active: () => boolean): { count: number; exits: { at: string; lastErrors: string[] }[] } {
  const state = { count: 0, exits: [] as { at: string; lastErrors: string[] }[] };
  const timer = setInterval(() => {
    if (!active()) {
      clearInterval(timer);
      return;
    }
    if (service.exited) {
      state.count++;
      const lastErrors = service
        .tail(200)
        .split('\n')
        // Errors it logged, and the CLI's last word on stderr ("changeflow: …"; not the stack under it).
        .filter((line) => /"level":(50|60|"error"|"fatal")/.test(line) || line.startsWith('changeflow: '))
        .slice(-3)
        .map((line) => line.slice(0, 600));
      state.exits.push({ at: new Date().toISOString(), lastErrors });
      log(`the service exited on its own; restarting it. Its last errors:\n  ${lastErrors.join('\n  ') || '(none logged)'}`);
      void service.restart();
    }
  }, 1_000);
  timer.unref();
  return state;
}

/** What the Kafka-sink topic holds for one document (to tell why a copy differs). */
function eventsOf(records: readonly IncomingRecord[], topic: string, coll: string, idText: string): string[] {
  return records
    .filter((r) => r.topic === topic && r.key?.toString() === idText)
    .map((r) => JSON.parse(r.value?.toString() ?? '{}') as { id?: string; op?: string; ns?: { coll?: string }; clusterTime?: unknown; fullDocument?: unknown })
    .filter((e) => e.ns?.coll === coll)
    .map((e) => `${e.op ?? '?'} ${e.id ?? '?'} ${JSON.stringify(e.clusterTime)} ${JSON.stringify(e.fullDocument)}`)
    .slice(-12);
}

function countBy(items: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[item] = (out[item] ?? 0) + 1;
  return out;
}

function printSummary(
  report: { [key: string]: unknown; delivered: { records: number; distinctEvents: number; repeats: number; losses: number } },
  faults: readonly FaultRecord[],
): void {
  console.log('\nfault                start    dur s  recovery s');
  for (const f of faults)
    console.log(
      `${f.kind.padEnd(20)} ${(f.atMs / 1000).toFixed(0).padStart(5)}  ${(f.durationMs / 1000).toFixed(0).padStart(6)}  ${((f.recoveryMs ?? 0) / 1000).toFixed(1).padStart(10)}`,
    );
  const summary = Object.fromEntries(Object.entries(report).filter(([key]) => key !== 'missingWrites' && key !== 'faults'));
  console.log(`\n${JSON.stringify(summary, null, 2)}`);
}

// A killed or crashed soak must not leave its broker, MongoDB servers, Redis or service behind.
const teardown = new Teardown({
  graceMs: 30_000,
  hardKill: () => {
    const killed = killDescendants();
    if (killed.length > 0) console.log(`[soak] killed what was still running: pids ${killed.join(', ')}`);
  },
  exit: (code) => process.exit(code),
  log,
});
teardown.install();
const code = await main(teardown).catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  return 1;
});
// The teardown has run; nothing left (a writer still retrying, a socket) may keep a failed soak alive.
process.exit(code);
