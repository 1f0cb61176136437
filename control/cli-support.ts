import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { ChangeflowError, ValidationError } from '../core/errors.js';
import { ControlClient } from './client.js';

export const DEFAULT_SERVER = '127.0.0.1:50051';

export interface ConnectionOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

/** `--server`, `--token` and `--json`, shared by every `triggers` / `functions` subcommand. */
export function connectionOptions(command: Command): Command {
  return command
    .option('--server <host:port>', `control-plane gRPC address (default: $CHANGEFLOW_SERVER or ${DEFAULT_SERVER})`)
    .option('--token <token>', 'bearer token (default: $CHANGEFLOW_TOKEN)')
    .option('--json', 'print JSON instead of a table');
}

export function connect(opts: ConnectionOptions): ControlClient {
  const server = opts.server ?? process.env['CHANGEFLOW_SERVER'] ?? DEFAULT_SERVER;
  if (!/^[^\s:]+:\d{1,5}$/.test(server)) throw new ValidationError(`--server: expected host:port, e.g. ${DEFAULT_SERVER}; got "${server}"`);
  const token = opts.token ?? process.env['CHANGEFLOW_TOKEN'];
  if (!token) throw new ValidationError('no token: pass --token <token> or set CHANGEFLOW_TOKEN (tokens are listed under auth.tokens in changeflow.yaml)');
  return new ControlClient(server, token);
}

/** Runs a CLI action with a connected client, turning gRPC errors into one readable line. */
export async function withClient<T>(opts: ConnectionOptions, action: (client: ControlClient) => Promise<T>): Promise<T> {
  const client = connect(opts);
  try {
    return await action(client);
  } catch (error) {
    if (isServiceError(error)) {
      const name = grpc.status[error.code] ?? String(error.code);
      const hint = error.code === grpc.status.UNAVAILABLE ? ` (is changeflow running with its gRPC server at ${client.address}?)` : '';
      throw new ChangeflowError(`${name}: ${error.details}${hint}`, { code: `GRPC_${name}`, cause: error });
    }
    throw error;
  } finally {
    client.close();
  }
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return typeof error === 'object' && error !== null && 'code' in error && 'details' in error && typeof (error as { code: unknown }).code === 'number';
}

export function parseJsonOption(value: string, option: string, example: string): unknown {
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new ValidationError(`${option}: not JSON (${(error as Error).message}); e.g. ${example}`);
  }
}

export function readTextFile(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ValidationError(`${option}: cannot read ${path} (${(error as Error).message})`);
  }
}

export function readBinaryFile(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ValidationError(`${option}: cannot read ${path} (${(error as Error).message})`);
  }
}

export function positiveInt(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ValidationError(`${option}: expected a whole number, got "${value}"`);
  return n;
}

/** Repeatable options (`--sink a --sink b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const OBJECT_ID = /^[0-9a-f]{24}$/;

export function looksLikeId(value: string): boolean {
  return OBJECT_ID.test(value);
}
