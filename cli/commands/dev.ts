import type { Command } from 'commander';
import { parseDevOptions } from '../demo/options.js';
import { ChatDemo } from '../demo/chat.js';
import { DemoSession } from '../demo/session.js';

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description(
      'Start local Kafka + MongoDB-compatible server (+ Redis), then the whole service with a demo pipeline and a live view; Ctrl-C stops everything',
    )
    .option(
      '--demo <name>',
      'users: sync, cache and audit of demo.users; chat: materialized views over chat.users and chat.messages with a tail of their feeds',
      'users',
    )
    .option('--keep-infra', 'leave the local servers running after Ctrl-C')
    .option('--rate <n>', 'demo generator writes per second', '10')
    .option('--no-generator', 'do not write demo changes (write to the demo collection yourself)')
    .option('--writes <n>', 'stop the generator after this many writes (default: run until Ctrl-C)')
    .option('--initial <n>', 'documents in the demo collection before the service starts (copied by the initial snapshot)', '100')
    .option(
      '--demo-db <name>',
      'demo database: <name>.users → <name>_copy.users (other names: triggers <name>-copy/-cache/-audit, Redis keys <name>:users:<_id>)',
      'demo',
    )
    .option('--metadata-db <name>', 'metadata database (triggers, leases, audit records)', 'changeflow')
    .option('--http-port <port>', 'HTTP port for /healthz and /metrics (default 8080, or a free one when taken)')
    .option('--grpc-port <port>', 'gRPC port of the control plane (default 50051, or a free one when taken)')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseDevOptions(raw);
      const io = { out: process.stdout, note: (line: string) => void process.stderr.write(`${line}\n`) };
      const session = options.demo === 'chat' ? new ChatDemo(options, io) : new DemoSession(options, io);
      let signals = 0;
      let release: () => void = () => undefined;
      const stopRequested = new Promise<void>((resolve) => (release = resolve));
      const onSignal = (): void => {
        signals++;
        if (signals === 1) {
          process.stderr.write('\nstopping… (Ctrl-C again to force)\n');
          release();
          return;
        }
        process.stderr.write('forced stop: killing the local servers\n');
        session.forceStop();
        process.exit(130);
      };
      // Before anything starts: a Ctrl-C during the (possibly slow) first start still stops what was started.
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const started = session.start();
        await Promise.race([started, stopRequested]);
        await stopRequested;
      } finally {
        await session.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        // Everything is closed; a client library's lingering timer must not keep `dev` from exiting.
        setTimeout(() => process.exit(process.exitCode ?? 0), 3_000).unref();
      }
      process.stderr.write('stopped.\n');
    });
}
