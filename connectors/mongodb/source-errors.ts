import { ChangeflowError } from '../../core/errors.js';

/** A failure no retry fixes (bad URI kind, oversized event with `oversized: fail`, lost history with `fail`). */
export class SourceFatalError extends ChangeflowError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: false, code: 'SOURCE_FATAL', cause });
  }
}
