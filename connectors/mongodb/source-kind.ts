import type { SourceKind } from '../source.js';
import { sourceConfigSchema } from './source-config.js';
import { createMongoSource } from './source-factory.js';

export const mongodbSourceKind: SourceKind<typeof sourceConfigSchema> = {
  kind: 'mongodb',
  description:
    'Tails a MongoDB change stream (a collection, a database or the whole cluster) and publishes every change to Kafka; ' +
    'the position is stored only after Kafka acknowledged, an optional snapshot copies the existing documents first, and standby instances take over through a lease.',
  configSchema: sourceConfigSchema,
  create: (config, context, services) => createMongoSource(config, context, services),
};
