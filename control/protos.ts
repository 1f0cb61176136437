import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { MissingPrerequisiteError, InternalError } from '../core/errors.js';

/**
 * Largest gRPC message the server and the CLI's client accept either way: an 8 MiB WebAssembly module
 * (MAX_WASM_MODULE_BYTES) plus the rest of its message. grpc-js's default is 4 MiB.
 */
export const MAX_MESSAGE_BYTES = 9 * 1024 * 1024;

/** How the protos are read everywhere (server, CLI, tests): field names as written, enums as numbers. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
};

/**
 * The folder holding trigger.proto and function.proto. Found by walking up from this module, so
 * it works from the sources (tests), from dist/ and from an installed package alike.
 */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'schemas');
    if (existsSync(join(candidate, 'trigger.proto'))) return candidate;
    dir = dirname(dir);
  }
  throw new MissingPrerequisiteError('cannot find schemas/trigger.proto next to the changeflow package: reinstall changeflow');
}

export interface LoadedServices {
  TriggerService: grpc.ServiceClientConstructor;
  FunctionService: grpc.ServiceClientConstructor;
}

let cached: LoadedServices | undefined;

/** Loads both protos into grpc-js service definitions (and client constructors). */
export function loadServices(): LoadedServices {
  if (cached) return cached;
  const dir = protoDir();
  const definition = protoLoader.loadSync([join(dir, 'trigger.proto'), join(dir, 'function.proto')], { ...PROTO_LOADER_OPTIONS, includeDirs: [dir] });
  const root = grpc.loadPackageDefinition(definition);
  const pick = (pkg: string, service: string): grpc.ServiceClientConstructor => {
    const ns = root[pkg] as grpc.GrpcObject | undefined;
    const ctor = ns?.[service];
    if (typeof ctor !== 'function') throw new InternalError(`${pkg}.${service} missing from the protos`);
    return ctor as grpc.ServiceClientConstructor;
  };
  cached = { TriggerService: pick('trigger', 'TriggerService'), FunctionService: pick('function', 'FunctionService') };
  return cached;
}
