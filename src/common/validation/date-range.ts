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
 * No event predates the epoch (each is checked against the time it arrives), and the day
 * after 9998-12-31 still has a four-digit year: reports walk a range day by day as
 * `YYYY-MM-DD` text, which the expanded years of JavaScript dates would not keep in order.
 */
const EARLIEST_DATE = '1970-01-01';
const LATEST_DATE = '9998-12-31';

/**
 * A report's date range: real calendar dates, end not before start, at most 366 days;
 * missing bounds default to `defaultDays` days ago and today, in the report time zone. An
 * error names the bound the caller sent: a start_date alone is the one to blame.
 */
export function resolveDateRange(
  query: { start_date?: string; end_date?: string },
  options: {
    timeZone: string;
    now: Date;
    defaultDays: number;
    /** The end when the query has none; today in the time zone when not given. */
    defaultEndDate?: string;
  },
): DateRange {
  const problems: FieldError[] = [];
  for (const field of ['start_date', 'end_date'] as const) {
    const value = query[field];
    if (value !== undefined && !isCalendarDate(value)) {
      problems.push({
        field,
        message: `${field} must be a real date in YYYY-MM-DD form, from ${EARLIEST_DATE} to ${LATEST_DATE}`,
      });
    }
  }
  if (problems.length > 0) throw new ValidationFailedError(problems);
  const endDate =
    query.end_date ?? options.defaultEndDate ?? dateInZone(options.now, options.timeZone);
  const startDate = query.start_date ?? daysBefore(endDate, options.defaultDays);
  const days = (Date.parse(endDate) - Date.parse(startDate)) / DAY_MS + 1;
  // A bound the caller left out is not one to blame: a start_date alone names itself.
  const field = query.end_date === undefined ? 'start_date' : 'end_date';
  if (days < 1) {
    throw new ValidationFailedError([
      field === 'start_date'
        ? { field, message: `start_date must not be after ${endDate}, the default end_date` }
        : { field, message: 'end_date must not be before start_date' },
    ]);
  }
  if (days > MAX_RANGE_DAYS) {
    throw new ValidationFailedError([
      { field, message: `the range must span at most ${MAX_RANGE_DAYS} days (got ${days})` },
    ]);
  }
  return { startDate, endDate, timeZone: options.timeZone };
}

export function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || value < EARLIEST_DATE || value > LATEST_DATE)
    return false;
  const time = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === value;
}

/** `days` days before `date`, or the earliest date a range may start on if that is later. */
export function daysBefore(date: string, days: number): string {
  const start = addDays(date, -days);
  return start > EARLIEST_DATE ? start : EARLIEST_DATE;
}

/** Whether this Node knows an IANA time zone of that name. */
export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
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
