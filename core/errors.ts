/**
 * One error root for the whole project. Every error says whether trying again may help
 * (`retriable`) and keeps the error that caused it (`cause`), so the shared retry loop and the
 * processors' dead-letter logic can decide without string matching.
 */
export interface ChangeflowErrorOptions {
  retriable?: boolean;
  cause?: unknown;
  /** Machine-readable code, stable across releases (e.g. `CONFIG_INVALID`). */
  code?: string;
  /** The outside system that failed, when the error came from one: what logs and /healthz name. */
  dependency?: Dependency;
}

export type Dependency = 'Kafka' | 'MongoDB' | 'Redis' | 'HTTP' | 'schema registry';

export class ChangeflowError extends Error {
  readonly retriable: boolean;
  readonly code: string;
  readonly dependency: Dependency | undefined;

  constructor(message: string, options: ChangeflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retriable = options.retriable ?? false;
    this.code = options.code ?? 'CHANGEFLOW_ERROR';
    this.dependency = options.dependency;
  }
}

/** Bad input from a user: config, API request, function result. Never retriable. */
export class ValidationError extends ChangeflowError {
  constructor(message: string, options: Omit<ChangeflowErrorOptions, 'retriable'> = {}) {
    super(message, { ...options, retriable: false, code: options.code ?? 'VALIDATION' });
  }
}

/** A dependency (Kafka, MongoDB, Redis, HTTP target) did not answer or refused for now. */
export class UnavailableError extends ChangeflowError {
  constructor(message: string, options: Omit<ChangeflowErrorOptions, 'retriable'> = {}) {
    super(message, { ...options, retriable: true, code: options.code ?? 'UNAVAILABLE' });
  }
}

/** Something this machine lacks (Java, Maven, a native library): says what to install. */
export class MissingPrerequisiteError extends ChangeflowError {
  constructor(message: string, options: Omit<ChangeflowErrorOptions, 'retriable'> = {}) {
    super(message, { ...options, retriable: false, code: options.code ?? 'MISSING_PREREQUISITE' });
  }
}

/** A broken invariant of changeflow itself (used before started, after closed): a bug, never retriable. */
export class InternalError extends ChangeflowError {
  constructor(message: string, options: Omit<ChangeflowErrorOptions, 'retriable'> = {}) {
    super(message, { ...options, retriable: false, code: options.code ?? 'INTERNAL' });
  }
}

/** Whatever was thrown, as an Error (a thrown string or object becomes a ChangeflowError carrying it). */
export function toError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new ChangeflowError(String(thrown), { cause: thrown });
}

export function isRetriable(error: unknown): boolean {
  if (error instanceof ChangeflowError) return error.retriable;
  if (typeof error === 'object' && error !== null && 'retriable' in error) {
    return (error as { retriable: unknown }).retriable === true;
  }
  return false;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The dependency an error names, looking through its causes; undefined when none does. */
export function dependencyOf(error: unknown): Dependency | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof ChangeflowError && e.dependency) return e.dependency;
  }
  return undefined;
}
