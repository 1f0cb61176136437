import type { Command } from 'commander';
import { infraStatus, startInfra, stopInfra } from '../../core/infra/infra.js';
import { printJson } from '../output.js';

export function registerInfraCommand(program: Command): void {
  const infra = program
    .command('infra')
    .description('Start, stop or inspect the local Kafka broker and MongoDB-compatible server (tests and benchmarks use them too)');

  infra
    .command('start')
    .description('Start a local single-node Kafka (KRaft) and mongo-java-server in the background; reuse them if already running')
    .option('--json', 'print the addresses as JSON')
    .option('--state-dir <dir>', 'where the state file, logs and data live (default: $CHANGEFLOW_STATE_DIR or ~/.cache/changeflow/infra)')
    .action(async (opts: { json?: boolean; stateDir?: string }) => {
      const state = await startInfra({
        ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
        onProgress: (line) => (opts.json ? undefined : console.error(line)),
      });
      if (opts.json) printJson({ kafka: state.kafka, mongodb: state.mongodb, redis: state.redis, stateDir: state.stateDir });
      else {
        console.log(`kafka    ${state.kafka}`);
        console.log(`mongodb  ${state.mongodb}`);
        console.log(`redis    ${state.redis ?? 'unavailable (cache features off): set REDIS_URL or install redis-server'}`);
        console.log(`\nexport KAFKA_BROKERS=${state.kafka} MONGODB_URI='${state.mongodb}'${state.redis ? ` REDIS_URL=${state.redis}` : ''}`);
      }
    });

  infra
    .command('status')
    .description('Show the addresses of the local servers and whether each answers')
    .option('--json', 'print as JSON')
    .option('--state-dir <dir>', 'state folder used by `infra start`')
    .action(async (opts: { json?: boolean; stateDir?: string }) => {
      const status = await infraStatus(opts.stateDir);
      if (opts.json) {
        printJson(
          status.state
            ? {
                kafka: status.state.kafka,
                mongodb: status.state.mongodb,
                redis: status.state.redis,
                up: { kafka: status.kafka, mongodb: status.mongodb, redis: status.redis },
              }
            : { running: false },
        );
      } else if (!status.state) {
        console.log('not running (start with `npx changeflow infra start`)');
      } else {
        const mark = (ok: boolean): string => (ok ? 'up' : 'DOWN');
        console.log(`kafka    ${status.state.kafka}  ${mark(status.kafka)}`);
        console.log(`mongodb  ${status.state.mongodb}  ${mark(status.mongodb)}`);
        console.log(`redis    ${status.state.redis ?? '-'}  ${status.state.redis ? mark(status.redis) : ''}`);
      }
      if (status.state && !(status.kafka && status.mongodb)) process.exitCode = 1;
    });

  infra
    .command('stop')
    .description('Stop the local servers started by `infra start` and delete their data')
    .option('--state-dir <dir>', 'state folder used by `infra start`')
    .action(async (opts: { stateDir?: string }) => {
      const state = await stopInfra({ ...(opts.stateDir ? { stateDir: opts.stateDir } : {}) });
      console.log(state ? 'stopped' : 'nothing was running');
    });
}
