import { ChildService } from '../../testing/mongodb/child-service.js';

/** Names of what the soak's service reads and writes. */
export interface SoakNames {
  prefix: string;
  dbA: string;
  dbB: string;
  meta: string;
  collections: readonly string[];
  auditCollection: string;
  outTopic: string;
  redisKeyPrefix: string;
  triggers: { sync: string; cache: string; audit: string; out: string };
}

export function soakNames(runId: string): SoakNames {
  const prefix = `soak${runId}`;
  return {
    prefix,
    // Names of this run only: on a user's own servers (--mongo-a …) they must not meet anything else.
    dbA: `${prefix}_shop`,
    dbB: `${prefix}_shop_copy`,
    meta: `${prefix}_meta`,
    collections: ['orders', 'users', 'items'],
    auditCollection: 'soak_audit',
    outTopic: `${prefix}.soak.out`,
    redisKeyPrefix: `${prefix}:`,
    triggers: { sync: 'sync-b', cache: 'cache', audit: 'audit-deletes', out: 'to-kafka' },
  };
}

/**
 * The Redis function of docs/processors.md ("Writing functions"): `ft:<coll>:<id>` holds `{ n }` of
 * the live document. Updates of documents deleted before the lookup (fullDocument null) and unkeyed
 * updates (mongo-java-server) are skipped: the delete that follows is what counts.
 */
export const CACHE_FUNCTION = `export default function handle(events) {
  return events.flatMap((e) => {
    const raw = e.documentKey ? e.documentKey._id : undefined;
    if (raw === undefined) return [];
    const id = raw !== null && typeof raw === 'object' ? String(Object.values(raw)[0]) : String(raw);
    const key = 'ft:' + e.ns.coll + ':' + id;
    if (e.op === 'delete') return [{ sink: 'cache', op: 'del', key }];
    if (!e.fullDocument) return [];
    return [{ sink: 'cache', op: 'set', key, value: { n: e.fullDocument.n } }];
  });
}`;

export interface PipelineEndpoints {
  brokers: string;
  /** A and B as the service reaches them (through the fault proxies). */
  aUri: string;
  bUri: string;
  redisUrl: string;
}

/** `changeflow run` config: a source per collection of A (snapshot first), and the four triggers. */
export function serviceConfig(names: SoakNames, at: PipelineEndpoints): Record<string, unknown> {
  const source = { db: names.dbA };
  return {
    kafka: { brokers: [at.brokers], topicPrefix: names.prefix, partitions: 3 },
    mongodb: { uri: at.aUri, db: names.meta },
    http: { port: 0 },
    grpc: { port: 0 },
    sources: names.collections.map((coll) => ({
      name: `a-${coll}`,
      uri: at.aUri,
      watch: { db: names.dbA, coll },
      snapshot: 'initial',
      checkpointIntervalMs: 500,
    })),
    functions: [{ name: 'to-cache', code: CACHE_FUNCTION }],
    triggers: [
      { name: names.triggers.sync, source, sinks: [{ name: 'b', kind: 'mongodb', uri: at.bUri, db: names.dbB }] },
      {
        name: names.triggers.cache,
        source,
        function: 'to-cache',
        sinks: [{ name: 'cache', kind: 'redis', url: at.redisUrl, keyPrefix: names.redisKeyPrefix }],
      },
      { name: names.triggers.audit, source, operationTypes: ['delete'], sinks: [{ name: 'audit', kind: 'audit', collection: names.auditCollection }] },
      { name: names.triggers.out, source, sinks: [{ name: 'out', kind: 'kafka', topic: names.outTopic }] },
    ],
  };
}

/** The service as a child process that can be SIGKILLed, paused and started again with the same config. */
export class SoakService {
  private child: ChildService | undefined;
  /** Set while the soak keeps the service down on purpose (between a kill and its restart). */
  private down = true;
  restarts = 0;

  constructor(private readonly config: Record<string, unknown>) {}

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error('the soak service is not running');
    return pid;
  }

  start(): void {
    this.child = new ChildService(this.config, { LOG_LEVEL: 'warn' }).start();
    this.down = false;
  }

  /** The service ended although nobody stopped it. */
  get exited(): boolean {
    const pid = this.child?.pid;
    if (this.down || pid === undefined) return false;
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }

  async kill(): Promise<void> {
    this.down = true;
    await this.child?.kill();
  }

  async restart(): Promise<void> {
    await this.kill();
    this.restarts++;
    this.start();
  }

  async stop(): Promise<void> {
    this.down = true;
    if (!this.child) return;
    try {
      process.kill(this.pid, 'SIGCONT');
    } catch {
      /* gone */
    }
    await this.child.stop();
  }

  tail(lines = 20): string {
    return this.child?.tail(lines) ?? '';
  }
}
