import type { Binary } from 'mongodb';

/**
 * The metadata documents, shaped as docs/control-plane.md "Metadata" describes (`triggers` and `functions`
 * collections). Fields after the trigger API's own are changeflow additions. Ids are 24-hex strings.
 */
export interface DatabaseConfigDoc {
  data_source: string;
  database: string;
  collection: string;
  /** DatabaseOperationType numbers (1 insert, 2 update, 3 replace, 4 delete); empty = all. */
  operation_types: number[];
  unordered?: boolean;
  /** JSON text of a MongoDB-style filter over the change event ('' = none); kept as text because filters use `$` keys. */
  match?: string;
  /** Kafka topic to consume instead of `<prefix>.<database>.<collection>` ('' = default). */
  topic?: string;
}

export interface SinkDoc {
  name: string;
  kind: string;
  options: Record<string, unknown>;
}

export interface TriggerDoc {
  _id: string;
  user_id: string;
  name: string;
  /** TriggerType: 1 database, 2 authentication, 3 scheduled. */
  trigger_type: number;
  /** '' = no function: events pass through to every sink. */
  function_id: string;
  enabled: boolean;
  config: {
    database?: DatabaseConfigDoc;
    authentication?: Record<string, never>;
    scheduled?: { schedule: string };
  };
  sinks: SinkDoc[];
  batch?: { max_size: number; max_wait_ms: number };
  created_at: Date;
  updated_at: Date;
}

export interface FunctionDoc {
  _id: string;
  user_id: string;
  name: string;
  /** FunctionType: 1 wasm, 2 javascript. */
  function_type: number;
  func: { javascript?: string; wasm?: Binary };
  memory_mib?: number;
  timeout_ms?: number;
  created_at: Date;
  updated_at: Date;
}

export const TRIGGER_TYPE = { UNKNOWN: 0, DATABASE: 1, AUTHENTICATION: 2, SCHEDULED: 3 } as const;
export const FUNCTION_TYPE = { UNKNOWN: 0, WASM: 1, JAVASCRIPT: 2 } as const;
/** DatabaseOperationType number → the change event's `op`. */
export const OPERATION_NAMES: Readonly<Record<number, string>> = { 1: 'insert', 2: 'update', 3: 'replace', 4: 'delete' };

export const TRIGGERS = 'triggers';
export const FUNCTIONS = 'functions';
