import type { HealthOwner } from '../core/health.js';
import type { TriggerConfig } from './trigger-config.js';
import type { SinkKind } from '../sinks/sink.js';

/**
 * A trigger as the processors run it, whoever defined it (changeflow.yaml or the gRPC API).
 * The caller resolves the function's code; the processor never reads the metadata store itself.
 */
export interface TriggerDefinition extends TriggerConfig {
  /**
   * Unique runtime key: names the consumer group (`<prefix>.trigger.<key>`) and the dead-letter
   * topic (`<prefix>.__dlq.<key>`). File triggers use their name; API triggers a key the control
   * plane derives from the owner and name. Letters, digits, `.`, `_`, `-` only.
   */
  key: string;
  /** Owner (gRPC API triggers); absent for file triggers. */
  userId?: string;
  /** Who answers for the trigger in health (`tenant:<user>` for a non-admin's API trigger); absent = the instance. */
  owner?: HealthOwner;
  /**
   * The function's resolved code: JavaScript `code`, or an Extism plugin module as base64 (a string, so
   * definitions stay JSON: they are compared by their JSON text); absent = events pass through to
   * every sink unchanged.
   */
  functionCode?: FunctionCode;
}

export type FunctionCode = { name: string; memoryMiB: number; timeoutMs: number } & (
  { code: string; wasmBase64?: undefined } | { wasmBase64: string; code?: undefined }
);

/** What the control plane drives: start, restart or stop a trigger's consumer while everything runs. */
export interface TriggerController {
  /**
   * Makes the running state match `definition`: starts it, restarts it if anything changed
   * (function, sinks, source, filter), or stops it if `enabled` is false. A stopped trigger keeps
   * its committed offsets, so enabling it again resumes where it stopped.
   */
  apply(definition: TriggerDefinition): Promise<void>;
  /** Stops and forgets the trigger (its committed offsets stay in Kafka). */
  remove(key: string): Promise<void>;
  /** Keys of the triggers currently consuming. */
  running(): string[];
}

export interface TriggerControllerOptions {
  /** Sink kinds beyond the registry (tests use in-memory sinks). */
  extraSinkKinds?: readonly SinkKind[];
}
