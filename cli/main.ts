import { Command } from 'commander';
import { registerAuditCommand } from './commands/audit.js';
import { registerInfraCommand } from './commands/infra.js';
import { registerRunCommand } from './commands/run.js';
import { registerDevCommand } from './commands/dev.js';
import { registerDlqCommand } from './commands/dlq.js';
import { registerTriggersCommand } from './commands/triggers.js';
import { registerFunctionsCommand } from './commands/functions.js';
import { reportError } from './output.js';

export function buildProgram(): Command {
  const program = new Command('changeflow')
    .description('Change-data-capture and triggers on Kafka: MongoDB change streams → Kafka → sandboxed functions → sinks')
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)');
  registerDevCommand(program);
  registerRunCommand(program);
  registerInfraCommand(program);
  registerAuditCommand(program);
  registerDlqCommand(program);
  registerTriggersCommand(program);
  registerFunctionsCommand(program);
  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    process.exitCode = reportError(error);
  }
}
