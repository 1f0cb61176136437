import { InternalError } from './errors.js';

/**
 * Health of each part of the service, reported by the parts themselves. `/healthz` (liveness) serves
 * it with 200 whenever the process answers; `/readyz` (readiness) with 503 while a part the instance
 * owns is not working. A tenant's parts (its control-plane triggers and sources) are listed too, but
 * their failures are the tenant's: they never make the instance unready.
 */

/** Who answers for a component: the instance (its config, its infrastructure) or one control-plane tenant. */
export type HealthOwner = 'instance' | `tenant:${string}`;

/**
 * - `starting`: not yet doing its work (a source connecting);
 * - `running`: doing its work;
 * - `standby`: healthy, waiting (another instance holds a source's lease);
 * - `disabled`: healthy, switched off on purpose;
 * - `retrying`: not working, tried again with backoff;
 * - `failed`: not working and not retried until its config or definition changes (or the process restarts).
 */
export type ComponentState = 'starting' | 'running' | 'standby' | 'disabled' | 'retrying' | 'failed';

export interface HealthCheck {
  ok: boolean;
  state: ComponentState;
  owner: HealthOwner;
  /** What a person needs to know when it is not ok, e.g. "Kafka at 127.0.0.1:9092 unreachable (retrying)". */
  detail?: string;
  /** When `state` last changed (detail updates within one state keep it). */
  since: string;
}

export interface HealthReport {
  /** `degraded` when any component (any owner) is not ok. */
  status: 'ok' | 'degraded';
  /** Every component the instance owns is ok and started. */
  ready: boolean;
  /** The instance's components that keep it from being ready. */
  unready: string[];
  components: Record<string, HealthCheck>;
}

export interface HealthUpdate {
  /** Default: `running` when ok, `retrying` when not. */
  state?: ComponentState;
  /** Default: the owner the component was last reported with, else `instance`. */
  owner?: HealthOwner;
}

const OK_STATES: ReadonlySet<ComponentState> = new Set(['starting', 'running', 'standby', 'disabled']);

/**
 * The health owner of what a control-plane user created: that user, admins included. What the API
 * creates is runtime data, not the instance's config: were an admin's broken trigger the instance's,
 * every instance would turn unready at once and drop out of its load balancer, the control plane the
 * admin would fix it through with them.
 */
export function ownerOfUser(userId: string): HealthOwner {
  return `tenant:${userId}`;
}

export class Health {
  private readonly checks = new Map<string, HealthCheck>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  set(component: string, ok: boolean, detail?: string, update: HealthUpdate = {}): void {
    const previous = this.checks.get(component);
    const state = update.state ?? (ok ? 'running' : 'retrying');
    if (OK_STATES.has(state) !== ok) throw new InternalError(`health: state ${state} of ${component} contradicts ok=${ok}`);
    const owner = update.owner ?? previous?.owner ?? 'instance';
    if (previous && previous.state === state && previous.owner === owner && previous.detail === detail) return;
    const since = previous && previous.state === state ? previous.since : this.now().toISOString();
    this.checks.set(component, { ok, state, owner, ...(detail === undefined ? {} : { detail }), since });
  }

  /** A component that stopped for good: not ok, not retried until what it is made of changes. */
  fail(component: string, detail: string, owner?: HealthOwner): void {
    this.set(component, false, detail, { state: 'failed', ...(owner ? { owner } : {}) });
  }

  get(component: string): HealthCheck | undefined {
    return this.checks.get(component);
  }

  remove(component: string): void {
    this.checks.delete(component);
  }

  get ok(): boolean {
    for (const check of this.checks.values()) if (!check.ok) return false;
    return true;
  }

  /** The instance's components that are not ok, or not started yet. */
  unready(): string[] {
    return [...this.checks].filter(([, c]) => c.owner === 'instance' && (!c.ok || c.state === 'starting')).map(([name]) => name);
  }

  get ready(): boolean {
    return this.unready().length === 0;
  }

  report(): HealthReport {
    const unready = this.unready();
    return { status: this.ok ? 'ok' : 'degraded', ready: unready.length === 0, unready, components: Object.fromEntries(this.checks) };
  }
}
