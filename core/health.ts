/** Health of each part of the service, reported by the parts themselves and served by /healthz. */
export interface HealthCheck {
  ok: boolean;
  /** What a person needs to know when it is not ok, e.g. "Kafka at 127.0.0.1:9092 unreachable (retrying)". */
  detail?: string;
  since: string;
}

export class Health {
  private readonly checks = new Map<string, HealthCheck>();

  set(component: string, ok: boolean, detail?: string): void {
    const previous = this.checks.get(component);
    if (previous && previous.ok === ok && previous.detail === detail) return;
    this.checks.set(component, { ok, ...(detail === undefined ? {} : { detail }), since: new Date().toISOString() });
  }

  remove(component: string): void {
    this.checks.delete(component);
  }

  get ok(): boolean {
    for (const check of this.checks.values()) if (!check.ok) return false;
    return true;
  }

  report(): { status: 'ok' | 'degraded'; components: Record<string, HealthCheck> } {
    return { status: this.ok ? 'ok' : 'degraded', components: Object.fromEntries(this.checks) };
  }
}
