import type { Command } from 'commander';
import { startApp } from '../../core/app.js';
import { loadConfigFile } from '../../app/config.js';
import { checkConfigFunctions } from '../../processors/check-functions.js';
import { componentFactories } from '../../app/components.js';
import { describeKafkaClients } from '../kafka-clients.js';

/** Resolves when the process is asked to stop (Ctrl-C or SIGTERM). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run the service (sources, processors, control plane, EventSync) against the configured Kafka, MongoDB and Redis')
    .option('-c, --config <file>', 'config file', 'changeflow.yaml')
    .option('--check', 'validate the config and exit')
    .action(async (opts: { config: string; check?: boolean }) => {
      const config = loadConfigFile(opts.config);
      if (opts.check) {
        // Loading checked everything but the functions' code, which only compiling shows.
        const problems = await checkConfigFunctions(config.functions);
        if (problems.length > 0) {
          console.error(`${opts.config} is not valid:\n  - ${problems.join('\n  - ')}`);
          process.exitCode = 1;
          return;
        }
        console.log(
          `${opts.config}: ok (${config.sources.length} sources, ${config.functions.length} functions, ${config.triggers.length} triggers, ${config.eventsync.length} EventSync services)`,
        );
        return;
      }
      const app = await startApp(config, componentFactories());
      const grpcAt =
        config.grpc.port === 0 ? `${config.grpc.host} on a free port (see the "grpc listening" log line)` : `${config.grpc.host}:${config.grpc.port}`;
      console.error(
        `changeflow running: http ${app.httpUrl} (healthz, readyz, metrics), grpc ${grpcAt}; kafka: ${describeKafkaClients(config.kafka.client, config.kafka.producerClient)}`,
      );
      // A component that fails after startup is shown failed in /readyz and stays down or retries by itself:
      // exiting would restart into the same failure (a crash loop) and stop every other pipeline with it.
      await untilSignal();
      await app.stop();
    });
}
