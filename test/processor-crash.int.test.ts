import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import type { FileSinkLine } from '../testing/processors/file-sink.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { committedTotal, produceEvents } from './support/processor-kafka.js';

const CHILD = join(process.cwd(), 'dist/testing/processors/child-processor.js');
const prefix = uniqueName('cfc');
const kafka = createKafkajsTransport({ brokers: [testInfra().kafka] });
const admin = kafka.admin();
const workDir = mkdtempSync(join(tmpdir(), 'cf-crash-'));
const children: ChildProcess[] = [];

/** Starts a processor process and resolves once it consumes. */
async function startChild(specPath: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CHILD, specPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`processor exited (${code}) before it was ready: ${stderr}`)));
  });
  return child;
}

function delivered(path: string): FileSinkLine[] {
  if (!existsSync(path)) return [];
  const lines: FileSinkLine[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    try {
      if (line) lines.push(JSON.parse(line) as FileSinkLine);
    } catch {
      // A line torn by kill -9 was never acknowledged.
    }
  }
  return lines;
}

beforeAll(() => admin.connect());

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(prefix)));
  await admin.disconnect();
  rmSync(workDir, { recursive: true, force: true });
});

it('kill -9 of a processor mid-batch: after a restart every event is delivered at least once, none lost', async () => {
  expect(existsSync(CHILD)).toBe(true);
  const name = uniqueName('crash');
  const topic = `${prefix}.shop.orders`;
  const total = 20_000;
  await admin.ensureTopics([{ topic, partitions: 3 }]);
  await produceEvents(
    kafka,
    topic,
    Array.from({ length: total }, (_, seq) => makeChangeEvent({ db: 'shop', coll: 'orders', docId: seq % 200, seq })),
  );
  const output = join(workDir, 'delivered.jsonl');
  const specPath = join(workDir, 'spec.json');
  writeFileSync(
    specPath,
    JSON.stringify({
      brokers: testInfra().kafka,
      prefix,
      trigger: {
        name,
        source: { topic },
        function: 'tag',
        sinks: [{ name: 'out', kind: 'file', path: output, delayMs: 25 }],
        batch: { maxSize: 250, maxWaitMs: 20 },
      },
      functionCode: "export default function handle(events) { return events.map((e) => ({ sink: 'out', op: 'set', key: e.id })); }",
    }),
  );

  const first = await startChild(specPath);
  await eventually(() => delivered(output).length >= 4_000, 'the first processor delivered a few thousand events', 60_000, 20);
  first.kill('SIGKILL');
  await new Promise((resolve) => first.once('exit', resolve));
  const atKill = delivered(output).length;
  const group = `${prefix}.trigger.${name}`;
  const committedAtKill = await committedTotal(admin, group, topic);
  // It died mid-stream: work was left, and nothing was committed that the sink had not acknowledged.
  expect(atKill).toBeLessThan(total);
  expect(committedAtKill).toBeLessThanOrEqual(atKill);

  const second = await startChild(specPath);
  await eventually(() => new Set(delivered(output).map((l) => l.id)).size === total, 'every event delivered after the restart', 90_000, 200);
  await eventually(async () => (await committedTotal(admin, group, topic)) === total, 'every offset committed', 30_000);
  const lines = delivered(output);
  const ids = new Set(lines.map((l) => l.id));
  for (let seq = 0; seq < total; seq++) expect(ids.has(`shop.orders:${seq}`)).toBe(true);
  // At-least-once: repeats are allowed (the batch in flight at the kill), losses are not.
  expect(lines.length).toBeGreaterThanOrEqual(total);
  console.log(`killed after ${atKill} lines with ${committedAtKill} offsets committed; ${lines.length - total} repeats after the restart`);
  second.kill('SIGTERM');
  await new Promise((resolve) => second.once('exit', resolve));
});
