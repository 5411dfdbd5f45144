import { DateRange } from './validation/date-range';

/**
 * SQL true when the instant in `column` falls on a day of a range in its time zone; its
 * placeholders take `localDaysParams(range)`. A local midnight made an instant
 * (`date::timestamp AT TIME ZONE zone`) is the later of the two where a clock goes back at
 * midnight (America/Havana), which would give the day's first hour to the day before; so
 * the instant's local date decides, and instants only bound the scan (a day wider on each
 * side, for the index).
 */
export function onLocalDays(column: string): string {
  return `(${column} >= ((?::date) - 1)::timestamp AT TIME ZONE ?
      AND ${column} < ((?::date) + 2)::timestamp AT TIME ZONE ?
      AND (${column} AT TIME ZONE ?)::date BETWEEN ?::date AND ?::date)`;
}

export function localDaysParams({ startDate, endDate, timeZone }: DateRange): unknown[] {
  return [startDate, timeZone, endDate, timeZone, timeZone, startDate, endDate];
}
