import type { ComponentFactory } from '../core/app.js';
import type { CoreConfig } from '../core/config.js';
import { createAvroCodec, type AvroCodec } from '../schemas/avro-codec.js';
import { eventSyncComponentFactory } from '../connectors/eventsync/component.js';
import { sourcesComponent as configSourcesComponent } from '../connectors/sources-component.js';
import { ProcessorManager, type ProcessorManagerOptions } from '../processors/manager.js';
import { definitionsFromConfig } from '../processors/definitions.js';
import { createControlPlane } from '../control/component.js';
import type { Config } from './config.js';

const avroCodecs = new WeakMap<CoreConfig, AvroCodec>();

/** The service's one Avro codec (schema ids are cached once), when `kafka.schemaRegistry` is set. */
export function avroCodecOf(config: CoreConfig): AvroCodec | undefined {
  const registry = config.kafka.schemaRegistry;
  if (!registry) return undefined;
  let codec = avroCodecs.get(config);
  if (!codec) avroCodecs.set(config, (codec = createAvroCodec({ registryUrl: registry.url })));
  return codec;
}

const withAvro = (config: CoreConfig): { avro?: AvroCodec } => {
  const avro = avroCodecOf(config);
  return avro ? { avro } : {};
};

/** The processor component: the file's triggers, plus whatever the control plane applies. */
export function processorComponent(options: ProcessorManagerOptions = {}): ComponentFactory<Config> {
  return (config) => createProcessors(config, options);
}

function createProcessors(config: Config, options: ProcessorManagerOptions = {}): ProcessorManager {
  return new ProcessorManager(definitionsFromConfig(config), { ...withAvro(config), ...options });
}

export const sourcesComponent: ComponentFactory<Config> = (config) => configSourcesComponent(config.sources, withAvro(config));

/**
 * Every part of the running service, in start order (stopped in reverse). A new part is one
 * line here; each factory returns null when the config does not ask for it. The control plane is
 * handed this service's processors (the runtime its triggers are applied to).
 */
export function componentFactories(): readonly ComponentFactory<Config>[] {
  let processors: ProcessorManager | undefined;
  return [
    sourcesComponent,
    (config) => (processors = createProcessors(config)),
    (config) => createControlPlane(config, { ...withAvro(config), controller: () => processors }),
    eventSyncComponentFactory,
  ];
}
