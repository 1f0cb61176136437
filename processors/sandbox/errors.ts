import { ChangeflowError } from '../../core/errors.js';

export type FunctionErrorKind = 'syntax' | 'runtime' | 'timeout' | 'memory' | 'output' | 'invalid-actions';

export interface FunctionErrorDetails {
  kind: FunctionErrorKind;
  functionName: string;
  message: string;
  line?: number;
  column?: number;
  /** Stack inside the function's code (QuickJS frames only), trimmed. */
  stack?: string;
  /**
   * Whether running the same events again may succeed. Default: only for `timeout` and `memory` (they
   * depend on load and batch size); a throw or an invalid result comes back for the same input.
   */
  retriable?: boolean;
}

/** A failure of one function call (or of compiling the function). Never a host crash. */
export class FunctionError extends ChangeflowError {
  readonly kind: FunctionErrorKind;
  readonly functionName: string;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly functionStack: string | undefined;
  /** What it was built from (the message without the "function ... error:" prefix), e.g. to send it across threads. */
  readonly details: Readonly<FunctionErrorDetails>;

  constructor(details: FunctionErrorDetails) {
    const where = details.line === undefined ? '' : ` (line ${details.line}${details.column === undefined ? '' : `, column ${details.column}`})`;
    super(`function "${details.functionName}" ${details.kind} error: ${details.message}${where}`, {
      code: `FUNCTION_${details.kind.toUpperCase().replace('-', '_')}`,
      retriable: details.retriable ?? (details.kind === 'timeout' || details.kind === 'memory'),
    });
    this.kind = details.kind;
    this.functionName = details.functionName;
    this.line = details.line;
    this.column = details.column;
    this.functionStack = details.stack;
    this.details = Object.freeze({ ...details });
  }
}

/** Raised by validateActions; the sandbox wraps it in a FunctionError of kind 'invalid-actions'. */
export class InvalidActionsError extends ChangeflowError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    const shown = issues.slice(0, 5).join('; ');
    super(issues.length > 5 ? `${shown}; and ${issues.length - 5} more` : shown, { code: 'INVALID_ACTIONS' });
    this.issues = issues;
  }
}
