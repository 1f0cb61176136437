import { open, type FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import { nameSchema } from '../../core/names.js';
import type { Sink, SinkKind } from '../../sinks/sink.js';

const configSchema = z.strictObject({
  name: nameSchema,
  kind: z.literal('file'),
  path: z.string({ error: 'expected a file path to append to' }).min(1),
  /** Pause before each acknowledgement (lets a test kill the process mid-batch). */
  delayMs: z.number().int().nonnegative().default(0),
});

/** One line per acknowledged record. */
export interface FileSinkLine {
  id: string;
  topic: string;
  partition: number;
  offset: string;
  action?: unknown;
}

/**
 * A sink kind for crash tests: appends one JSON line per record and fsyncs before acknowledging, so
 * what the file holds is exactly what was acknowledged (plus possibly a torn last line after a kill).
 */
export const fileSinkKind: SinkKind<typeof configSchema> = {
  kind: 'file',
  description: 'Appends records as JSON lines to a local file, fsynced before the ack (tests only)',
  configSchema,
  create(config): Sink {
    let handle: FileHandle | undefined;
    return {
      name: config.name,
      kind: 'file',
      async start() {
        handle = await open(config.path, 'a');
      },
      async stop() {
        await handle?.close();
        handle = undefined;
      },
      async write(records) {
        if (!handle) throw new Error('file sink not started');
        const text = records
          .map((r) => {
            const line: FileSinkLine = { id: r.event.id, topic: r.origin.topic, partition: r.origin.partition, offset: r.origin.offset };
            if (r.action) line.action = r.action;
            return JSON.stringify(line);
          })
          .join('\n');
        await handle.appendFile(`${text}\n`);
        await handle.sync();
        if (config.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.delayMs));
      },
    };
  },
};
