/**
 * A processor in its own process, for crash tests: `node dist/testing/processors/child-processor.js <spec.json>`.
 * The spec names the brokers, topic prefix and one trigger (as in changeflow.yaml, plus optional function
 * code); sinks may use the test kinds `file` and `memory`. Prints "ready" once consuming; SIGTERM stops it.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseOrThrow } from '../../core/schema-errors.js';
import { ProcessorManager } from '../../processors/manager.js';
import { triggerConfigSchema } from '../../processors/trigger-config.js';
import { processorContext } from './context.js';
import { fileSinkKind } from './file-sink.js';
import { memorySinkKind } from './memory-sink.js';

const specSchema = z.strictObject({
  brokers: z.string().min(1),
  prefix: z.string().min(1),
  trigger: triggerConfigSchema,
  functionCode: z.string().optional(),
});

const path = process.argv[2];
if (!path) throw new Error('usage: child-processor.js <spec.json>');
const spec = parseOrThrow(specSchema, JSON.parse(readFileSync(path, 'utf8')), path);
const context = processorContext({ brokers: spec.brokers, prefix: spec.prefix });
const manager = new ProcessorManager([], { extraSinkKinds: [fileSinkKind, memorySinkKind], topicRefreshMs: 0, sessionTimeoutMs: 6_000 });
await manager.start(context);
await manager.apply({
  ...spec.trigger,
  key: spec.trigger.name,
  ...(spec.functionCode ? { functionCode: { name: `${spec.trigger.name}-fn`, code: spec.functionCode, memoryMiB: 32, timeoutMs: 1000 } } : {}),
});
process.stdout.write('ready\n');

const stop = async (): Promise<void> => {
  await manager.stop();
  await context.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
