/**
 * The subset of the Extism plugin ABI this host supports: the functions a plugin may import from
 * `extism:host/env`. `http_request` / `http_status_code` exist so PDK-built plugins link, but a call
 * fails (functions have no network); `log_trace` and `get_log_level` come from newer PDKs.
 */
export const EXTISM_NAMESPACE = 'extism:host/env';

export const EXTISM_IMPORTS: ReadonlySet<string> = new Set([
  'alloc',
  'free',
  'length',
  'length_unsafe',
  'load_u8',
  'load_u64',
  'store_u8',
  'store_u64',
  'input_offset',
  'input_length',
  'input_load_u8',
  'input_load_u64',
  'output_set',
  'error_set',
  'config_get',
  'var_get',
  'var_set',
  'http_request',
  'http_status_code',
  'log_trace',
  'log_debug',
  'log_info',
  'log_warn',
  'log_error',
  'get_log_level',
]);

/** The export the host calls with each batch. */
export const HANDLE_EXPORT = 'handle';

/** Plugin config keys the host sets for each call (Config.get in a PDK). */
export const CONFIG_KEYS = {
  /** The trigger's name. */
  trigger: 'trigger',
  /** JSON array of the trigger's sink names. */
  sinks: 'sinks',
  /** The batch timestamp in ms since the epoch (the only clock a function gets). */
  now: 'now',
} as const;
