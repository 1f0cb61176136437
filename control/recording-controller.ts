import type { TriggerController, TriggerDefinition } from '../processors/trigger-definition.js';

/** A TriggerController that only remembers what it was told: for tests and for running the API without processors. */
export class RecordingTriggerController implements TriggerController {
  readonly definitions = new Map<string, TriggerDefinition>();
  readonly calls: { op: 'apply' | 'remove'; key: string; at: number; definition?: TriggerDefinition }[] = [];

  async apply(definition: TriggerDefinition): Promise<void> {
    this.definitions.set(definition.key, structuredClone(definition));
    this.calls.push({ op: 'apply', key: definition.key, at: Date.now(), definition: structuredClone(definition) });
  }

  async remove(key: string): Promise<void> {
    this.definitions.delete(key);
    this.calls.push({ op: 'remove', key, at: Date.now() });
  }

  running(): string[] {
    return [...this.definitions.values()].filter((d) => d.enabled).map((d) => d.key);
  }

  callsFor(key: string): number {
    return this.calls.filter((c) => c.key === key).length;
  }
}
