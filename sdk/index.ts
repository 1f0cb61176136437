/**
 * changeflow consumer SDK: read changeflow topics from your own service, with events decoded back into
 * BSON types. See docs/sdk.md.
 */
export { decodeChangeEvent, type DecodedChangeEvent, type DecodeOptions } from './decode.js';
export { subscribe, type ChangeHandler, type EventMeta, type SubscribeOptions, type Subscription } from './subscribe.js';
export type { ChangeOperation } from '../schemas/envelope.js';
