import { FieldError, ValidationFailedError } from '../http/domain-error';

export interface DateRange {
  /** Inclusive, `YYYY-MM-DD`, a day in `timeZone`. */
  startDate: string;
  /** Inclusive, `YYYY-MM-DD`. */
  endDate: string;
  timeZone: string;
}

const DAY_MS = 86_400_000;
export const MAX_RANGE_DAYS = 366;

/**
 * A report's date range: real calendar dates, end not before start, at most 366 days;
 * missing bounds default to `defaultDays` days ago and today, in the report time zone.
 */
export function resolveDateRange(
  query: { start_date?: string; end_date?: string },
  options: { timeZone: string; now: Date; defaultDays: number },
): DateRange {
  const problems: FieldError[] = [];
  for (const field of ['start_date', 'end_date'] as const) {
    const value = query[field];
    if (value !== undefined && !isCalendarDate(value)) {
      problems.push({ field, message: `${field} must be a real date in YYYY-MM-DD form` });
    }
  }
  if (problems.length > 0) throw new ValidationFailedError(problems);
  const endDate = query.end_date ?? dateInZone(options.now, options.timeZone);
  const startDate = query.start_date ?? addDays(endDate, -options.defaultDays);
  const days = (Date.parse(endDate) - Date.parse(startDate)) / DAY_MS + 1;
  if (days < 1) {
    throw new ValidationFailedError([
      { field: 'end_date', message: 'end_date must not be before start_date' },
    ]);
  }
  if (days > MAX_RANGE_DAYS) {
    throw new ValidationFailedError([
      {
        field: 'end_date',
        message: `the range must span at most ${MAX_RANGE_DAYS} days (got ${days})`,
      },
    ]);
  }
  return { startDate, endDate, timeZone: options.timeZone };
}

export function isCalendarDate(value: string): boolean {
  // PostgreSQL's dates start at year 1.
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || value.startsWith('0000')) return false;
  const time = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === value;
}

/** The calendar date of an instant in a time zone. */
export function dateInZone(instant: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(instant);
}

export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}
