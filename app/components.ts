import type { ComponentFactory } from '../core/app.js';
import { eventSyncComponentFactory } from '../connectors/eventsync/component.js';
import { mongoSourcesFactory } from '../connectors/mongodb/source-component.js';
import { processorComponent } from '../processors/manager.js';
import { controlPlaneComponent } from '../control/component.js';

/**
 * Every part of the running service, in start order (stopped in reverse). A new part is one
 * line here; each factory returns null when the config does not ask for it.
 */
export const componentFactories: readonly ComponentFactory[] = [
  mongoSourcesFactory,
  processorComponent(),
  controlPlaneComponent,
  eventSyncComponentFactory,
];
