import type { CoreConfig } from '../core/config.js';
import type { SourceConfig } from '../connectors/mongodb/source-config.js';

/** A source of changeflow.yaml, with the tenants (userIds) whose triggers may read it. */
export type ConfiguredSource = SourceConfig & { readers: string[] };

/** A trigger of changeflow.yaml as the control plane sees it: the databases its MongoDB sinks write are the operator's. */
export interface ConfiguredTrigger {
  name?: string;
  source?: { topic: string } | { db: string; coll?: string };
  sinks: readonly { kind: string; [option: string]: unknown }[];
}

/** What the control plane reads of the service's config. */
export type ControlConfig = CoreConfig & { sources: readonly ConfiguredSource[]; triggers?: readonly ConfiguredTrigger[] };
