/**
 * Per-tenant FIFO queues served round robin. A tenant may hold every worker while nobody else waits,
 * but at most `size - 1` while another tenant has calls queued, so one tenant's flood always leaves a
 * worker that the next tenant's call gets as soon as it frees up.
 */
export class FairQueue<T> {
  /** Tenants with queued items, in service order (a tenant just served moves to the back). */
  private readonly queues = new Map<string, T[]>();
  private readonly running = new Map<string, number>();

  constructor(private readonly size: number) {}

  get waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  push(tenant: string, item: T): void {
    const queue = this.queues.get(tenant);
    if (queue) queue.push(item);
    else this.queues.set(tenant, [item]);
  }

  /** The next item to start, or undefined when nothing may start now. The caller must call finished(tenant) after it. */
  take(): { tenant: string; item: T } | undefined {
    const othersWaiting = this.queues.size > 1;
    const cap = othersWaiting ? Math.max(1, this.size - 1) : this.size;
    for (const [tenant, queue] of this.queues) {
      if ((this.running.get(tenant) ?? 0) >= cap) continue;
      const item = queue.shift() as T;
      this.queues.delete(tenant);
      if (queue.length > 0) this.queues.set(tenant, queue);
      this.running.set(tenant, (this.running.get(tenant) ?? 0) + 1);
      return { tenant, item };
    }
    return undefined;
  }

  finished(tenant: string): void {
    const n = (this.running.get(tenant) ?? 0) - 1;
    if (n > 0) this.running.set(tenant, n);
    else this.running.delete(tenant);
  }

  /** Removes and returns everything queued (for close()). */
  drain(): T[] {
    const items = [...this.queues.values()].flat();
    this.queues.clear();
    return items;
  }
}
