import { z } from 'zod';
import type { AppContext } from '../core/app.js';
import { readersSchema } from '../core/auth-config.js';
import type { HealthOwner } from '../core/health.js';
import { nameSchema } from '../core/names.js';
import type { AvroCodec } from '../schemas/avro-codec.js';

/** A running source: it publishes its changes to Kafka until stopped; failures show in health. */
export interface Source {
  start(): void;
  stop(): Promise<void>;
}

/** What a source is given besides its own config and the service's context. */
export interface SourceServices {
  /** The service's Avro codec, when it has a schema registry (required by `format: avro`). */
  avro?: AvroCodec;
  /** Who answers for the source in health; config sources are the instance's. */
  owner?: HealthOwner;
}

/**
 * The schema of a `sources:` entry of one kind: `{ name, kind, readers, ...options }`. Strict, so a
 * misspelt option is reported by key path instead of being ignored. `kind` is the kind's literal;
 * only the default kind (`mongodb`) gives it a default, so entries may leave it out.
 */
export function sourceEntrySchema<K extends z.ZodType, T extends z.ZodRawShape>(kind: K, shape: T) {
  return z.strictObject({
    name: nameSchema.meta({ description: 'Unique among sources; also the key of its position in `<prefix>.__offsets`.', example: 'shop' }),
    kind,
    readers: readersSchema.meta({
      description: "Tenants (userIds) whose control-plane triggers may read this source's namespaces and topics without a `data_source` of their own.",
      example: ['team-a'],
    }),
    ...shape,
  });
}

/**
 * A kind of source: its config schema (each option documented once with `.meta`, see
 * core/component-spec.ts) and how to build one. One file per kind, one line in connectors/registry.ts.
 */
export interface SourceKind<S extends z.ZodType = z.ZodType> {
  kind: string;
  description: string;
  configSchema: S;
  create(config: z.output<S>, context: AppContext, services: SourceServices): Source;
}
