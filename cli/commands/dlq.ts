import type { Command } from 'commander';
import { loadConfigFile, type Config } from '../../app/config.js';
import { ValidationError } from '../../core/errors.js';
import { createKafkaTransport } from '../../core/kafka/index.js';
import { TopicNames } from '../../core/topics.js';
import { deadLetterStatus, replayDeadLetters } from '../../processors/dlq-replay.js';
import { subscriptionFor } from '../../processors/source-topics.js';
import { printJson } from '../output.js';

function connect(configPath: string): { config: Config; topics: TopicNames; kafka: ReturnType<typeof createKafkaTransport> } {
  const config = loadConfigFile(configPath);
  return {
    config,
    topics: new TopicNames(config.kafka.topicPrefix),
    kafka: createKafkaTransport(
      config.kafka.client,
      { brokers: config.kafka.brokers, clientId: config.kafka.clientId },
      undefined,
      config.kafka.producerClient,
    ),
  };
}

export function registerDlqCommand(program: Command): void {
  const dlq = program.command('dlq').description("Inspect and replay a trigger's dead letters (<prefix>.__dlq.<trigger>)");

  dlq
    .command('replay <trigger>')
    .description('Re-inject the dead letters of a trigger into the topics they came from (each once), so the trigger processes them again')
    .option('-c, --config <file>', 'config file', 'changeflow.yaml')
    .option('--to <topic>', "topic for dead letters that do not name their original topic (default: the trigger's source topic)")
    .option('--timeout <ms>', 'give up after this many milliseconds', '60000')
    .option('--json', 'print the result as JSON')
    .action(async (trigger: string, opts: { config: string; to?: string; timeout: string; json?: boolean }) => {
      const { config, topics, kafka } = connect(opts.config);
      const timeoutMs = Number(opts.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
        throw new ValidationError(`--timeout: expected a positive number of milliseconds, got "${opts.timeout}"`);
      const definition = config.triggers.find((t) => t.name === trigger);
      const fallback = opts.to ?? (definition ? subscriptionFor(definition.source, topics).topics[0] : undefined);
      const result = await replayDeadLetters({ kafka, topics, trigger, timeoutMs, ...(fallback ? { fallbackTopic: fallback } : {}) });
      if (opts.json) printJson(result);
      else if (result.replayed === 0) console.log(`no dead letters to replay for trigger "${trigger}" (${result.deadLetterTopic})`);
      else
        console.log(
          `replayed ${result.replayed} dead letter${result.replayed === 1 ? '' : 's'} of trigger "${trigger}": ${Object.entries(result.byTopic)
            .map(([t, n]) => `${n} → ${t}`)
            .join(', ')}`,
        );
    });

  dlq
    .command('status <trigger>')
    .description('Count the dead letters of a trigger and how many are not replayed yet')
    .option('-c, --config <file>', 'config file', 'changeflow.yaml')
    .option('--json', 'print as JSON')
    .action(async (trigger: string, opts: { config: string; json?: boolean }) => {
      const { topics, kafka } = connect(opts.config);
      const status = await deadLetterStatus({ kafka, topics, trigger });
      if (opts.json) printJson(status);
      else if (!status.exists) console.log(`trigger "${trigger}" has no dead letters (${status.deadLetterTopic} does not exist)`);
      else console.log(`${status.deadLetterTopic}: ${status.total} dead letters, ${status.pending} not replayed yet`);
    });
}
