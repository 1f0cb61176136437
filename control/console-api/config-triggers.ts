import type { Health } from '../../core/health.js';
import { failedPrecondition, notFound, permissionDenied } from '../api-error.js';
import type { Principal } from '../auth.js';
import type { TriggerMessage } from '../trigger-messages.js';
import { FILE_TRIGGER_OWNER } from './pipeline.js';

/** How the console names a changeflow.yaml trigger where a control-plane id goes: `yaml:<name>`. */
export const CONFIG_ID_PREFIX = 'yaml:';

/** What the console reads of a changeflow.yaml trigger: its name and the source it reads. */
export interface ConfigTriggerInfo {
  name: string;
  source: { topic: string } | { db: string; coll?: string };
}

export const isConfigTriggerId = (id: string): boolean => id.startsWith(CONFIG_ID_PREFIX);

/**
 * A changeflow.yaml trigger as the dead-letter routes take a trigger: only an admin's, since these
 * are the operator's (a tenant is answered 403), and only one this process runs (its health).
 */
export function configTriggerOf(principal: Principal, id: string, triggers: readonly ConfigTriggerInfo[], health: Health): Partial<TriggerMessage> {
  const name = id.slice(CONFIG_ID_PREFIX.length);
  if (!principal.admin) throw permissionDenied(`params.id: "${id}" is a trigger of changeflow.yaml, the operator's: only an admin may see it`);
  const configured = triggers.find((t) => t.name === name);
  const check = health.report().components[`processor:${name}`];
  if (!configured && (!check || check.owner !== 'instance')) throw notFound(`no trigger "${name}" in changeflow.yaml runs in this process`);
  const source = configured?.source;
  return {
    id,
    name,
    user_id: FILE_TRIGGER_OWNER,
    runtime_key: name,
    enabled: check?.state !== 'disabled',
    sinks: [],
    ...(source
      ? {
          database: {
            data_source: '',
            database: 'db' in source ? source.db : '',
            collection: 'db' in source ? (source.coll ?? '') : '',
            operation_types: [],
            unordered: false,
            match: '',
            topic: 'topic' in source ? source.topic : '',
          },
        }
      : {}),
  };
}

/** Enable and disable act on the control plane's triggers; a changeflow.yaml trigger changes in the file. */
export function configTriggerIsReadOnly(id: string): never {
  throw failedPrecondition(
    `"${id}" is defined in changeflow.yaml: set its "enabled: false" there and restart (or reload) the service; the console changes only the control plane's triggers`,
  );
}
