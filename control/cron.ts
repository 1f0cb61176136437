import { Cron } from 'croner';

/**
 * Checks a cron expression (UTC): 5 fields (minute hour day-of-month month day-of-week) or 6 with
 * seconds first. Returns the problem, or undefined when it is valid.
 */
export function cronProblem(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6)
    return `expected 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, e.g. "*/5 * * * *"; got ${fields.length}`;
  try {
    new Cron(expression, { paused: true, timezone: 'UTC' }).stop();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
