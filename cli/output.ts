import { ChangeflowError } from '../core/errors.js';

/** Prints rows as an aligned text table (for people); `--json` callers print JSON instead. */
export function printTable(rows: readonly Record<string, unknown>[], columns: readonly string[]): void {
  const cell = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(line(columns.map((c) => c.toUpperCase())));
  for (const row of rows) console.log(line(columns.map((c) => cell(row[c]))));
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Errors we expect (bad config, missing Java) print their message only; anything else also its stack. */
export function reportError(error: unknown): number {
  if (error instanceof ChangeflowError) {
    console.error(`changeflow: ${error.message}`);
    return 1;
  }
  console.error('changeflow: unexpected error:', error);
  return 2;
}
