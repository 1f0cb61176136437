import { status } from '@grpc/grpc-js';
import { ApiError } from './api-error.js';
import type { Principal } from './auth.js';

/** The largest limits a caller may give a function (timeout_ms, memory_mib) or run one with. */
export interface FunctionCaps {
  maxTimeoutMs: number;
  maxMemoryMiB: number;
}

export type FunctionCapsOf = (principal: Principal) => FunctionCaps;

export const TENANT_FUNCTION_CAPS: Readonly<FunctionCaps> = Object.freeze({ maxTimeoutMs: 10_000, maxMemoryMiB: 256 });
export const ADMIN_FUNCTION_CAPS: Readonly<FunctionCaps> = Object.freeze({ maxTimeoutMs: 60_000, maxMemoryMiB: 1024 });

/** Admins get ADMIN_FUNCTION_CAPS, everyone else TENANT_FUNCTION_CAPS. */
export const defaultFunctionCaps: FunctionCapsOf = (principal) => (principal.admin ? ADMIN_FUNCTION_CAPS : TENANT_FUNCTION_CAPS);

/**
 * Refuses limits above the caller's caps with PERMISSION_DENIED naming the cap. `root` prefixes the
 * field names (e.g. `function.`); 0 / undefined means "the default", which is always allowed.
 */
export function enforceFunctionCaps(caps: FunctionCaps, limits: { timeout_ms?: number | undefined; memory_mib?: number | undefined }, root: string): void {
  if (limits.timeout_ms && limits.timeout_ms > caps.maxTimeoutMs) {
    throw new ApiError(
      status.PERMISSION_DENIED,
      `${root}timeout_ms: ${limits.timeout_ms} ms is above your maximum of ${caps.maxTimeoutMs} ms (maxTimeoutMs, set by an admin)`,
    );
  }
  if (limits.memory_mib && limits.memory_mib > caps.maxMemoryMiB) {
    throw new ApiError(
      status.PERMISSION_DENIED,
      `${root}memory_mib: ${limits.memory_mib} MiB is above your maximum of ${caps.maxMemoryMiB} MiB (maxMemoryMiB, set by an admin)`,
    );
  }
}
