export { eventSyncConfigSchema, serviceSlug, servicePathPrefix, serviceCollections, type EventSyncConfig, type EventSyncConfigInput } from './config.js';
export { EventSyncComponent, eventSyncComponentFactory, type EventSyncComponentOptions } from './component.js';
export { EventSyncService, type TriggerResult } from './service.js';
export {
  buildMessage,
  eventSyncId,
  splitMessage,
  encodeMessage,
  MessageTooLargeError,
  type EventSyncMessage,
  type EventList,
  type MessageEvent,
} from './message.js';
