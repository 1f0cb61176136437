import type { Component, ComponentFactory } from '../core/app.js';
import type { CoreConfig } from '../core/config.js';
import { InternalError } from '../core/errors.js';
import { createAvroCodec, type AvroCodec } from '../schemas/avro-codec.js';
import { eventSyncComponentFactory, type EventSyncComponent } from '../connectors/eventsync/component.js';
import { sourcesComponent as configSourcesComponent } from '../connectors/sources-component.js';
import { ProcessorManager, type ProcessorManagerOptions } from '../processors/manager.js';
import { definitionsFromConfig } from '../processors/definitions.js';
import { FunctionPool } from '../processors/sandbox/index.js';
import { createControlPlane } from '../control/component.js';
import { viewsComponent } from '../processors/views/views-component.js';
import type { Config } from './config.js';

/** What the parts of one service share: one Avro codec (schema ids cached once), one pool of function workers. */
interface SharedServices {
  avro?: AvroCodec;
  functionPool: ServiceFunctionPool;
}

/** The service's function workers, started on first use (a service without functions starts none). */
class ServiceFunctionPool {
  private pool: FunctionPool | undefined;
  private closed = false;
  readonly get = (): FunctionPool => {
    if (!this.pool && this.closed) throw new InternalError('the service is stopping: its function pool is closed');
    return (this.pool ??= new FunctionPool());
  };

  close(): Promise<void> {
    this.closed = true;
    return this.pool?.close() ?? Promise.resolve();
  }
}

function avroOf(config: CoreConfig): { avro?: AvroCodec } {
  const registry = config.kafka.schemaRegistry;
  return registry ? { avro: createAvroCodec({ registryUrl: registry.url }) } : {};
}

/** The function workers' lifetime: started first, so stopped last, after every part that runs functions. */
function functionPoolComponent(pool: ServiceFunctionPool): Component {
  return { name: 'function-pool', start: () => Promise.resolve(), stop: () => pool.close() };
}

/** The processor component alone (benchmarks): the file's triggers, on the process-wide function pool. */
export function processorComponent(options: ProcessorManagerOptions = {}): ComponentFactory<Config> {
  return (config) => new ProcessorManager(definitionsFromConfig(config), { ...avroOf(config), ...options });
}

/** The config's sources alone (benchmarks). */
export const sourcesComponent: ComponentFactory<Config> = (config) => configSourcesComponent(config.sources, avroOf(config));

/**
 * Every part of the running service, in start order (stopped in reverse). A new part is one
 * line here; each factory returns null when the config does not ask for it. The parts share one
 * Avro codec and one function pool, and the control plane is handed this service's processors
 * (the runtime its triggers are applied to).
 */
export function componentFactories(): readonly ComponentFactory<Config>[] {
  let shared: SharedServices | undefined;
  const servicesFor = (config: Config): SharedServices => (shared ??= { ...avroOf(config), functionPool: new ServiceFunctionPool() });
  const avro = (config: Config): { avro?: AvroCodec } => {
    const { avro: codec } = servicesFor(config);
    return codec ? { avro: codec } : {};
  };
  let processors: ProcessorManager | undefined;
  let eventSync: EventSyncComponent | null = null;
  return [
    (config) => functionPoolComponent(servicesFor(config).functionPool),
    (config) => configSourcesComponent(config.sources, avro(config)),
    (config) => (processors = new ProcessorManager(definitionsFromConfig(config), { ...avro(config), functionPool: servicesFor(config).functionPool.get })),
    viewsComponent,
    (config) =>
      createControlPlane(config, {
        ...avro(config),
        functionPool: servicesFor(config).functionPool.get,
        controller: () => processors,
        eventSync: () => eventSync?.list() ?? [],
      }),
    (config) => (eventSync = eventSyncComponentFactory(config)),
  ];
}
