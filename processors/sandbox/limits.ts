/** Per-function resource limits. All limits apply to one call, except memory, which caps the whole VM. */
export interface SandboxLimits {
  /** Heap limit of the function's QuickJS runtime. */
  memoryLimitBytes: number;
  /** Wall-clock budget of one call (QuickJS has no CPU clock; the interrupt handler checks elapsed time). */
  cpuTimeMs: number;
  /**
   * Stack QuickJS may use; deeper recursion fails with a clean "stack overflow" error. WASM frames also
   * consume V8's own stack (roughly 2.3x this figure), so values above ~384 KiB can overflow Node's
   * default ~1 MB stack first; the sandbox survives that too, but leaks the VM it has to abandon.
   */
  maxStackSizeBytes: number;
  /** Size cap of the serialised actions of one call. */
  maxOutputBytes: number;
  /** Bytes of console / ctx.log output delivered per call; the rest is dropped with a notice. */
  maxLogBytes: number;
}

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  memoryLimitBytes: 32 * 1024 * 1024,
  cpuTimeMs: 1000,
  maxStackSizeBytes: 256 * 1024,
  maxOutputBytes: 8 * 1024 * 1024,
  maxLogBytes: 64 * 1024,
});

/** Above this QuickJS's stack check never fires (it exceeds the WASM module's own stack). */
const MAX_STACK_BYTES = 4 * 1024 * 1024;

export function resolveLimits(overrides: Partial<SandboxLimits> = {}): SandboxLimits {
  const limits: SandboxLimits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof SandboxLimits)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`sandbox limit ${key} must be a positive number, got ${String(value)}`);
    }
    if (key === 'maxStackSizeBytes' && value > MAX_STACK_BYTES) {
      throw new RangeError(`sandbox limit maxStackSizeBytes must be at most ${MAX_STACK_BYTES} (the WASM stack size), got ${value}`);
    }
    limits[key] = value;
  }
  return limits;
}
