import { describe, expect, it } from 'vitest';
import { ValidationFailedError } from '../http/domain-error';
import { addDays, dateInZone, isCalendarDate, resolveDateRange } from './date-range';

const now = new Date('2026-11-26T23:30:00Z');

describe('resolveDateRange', () => {
  it('defaults to the last 30 days ending today in the report time zone', () => {
    expect(resolveDateRange({}, { timeZone: 'UTC', now, defaultDays: 30 })).toEqual({
      startDate: '2026-10-27',
      endDate: '2026-11-26',
      timeZone: 'UTC',
    });
    // 23:30 UTC is already the 27th in Berlin
    expect(resolveDateRange({}, { timeZone: 'Europe/Berlin', now, defaultDays: 30 }).endDate).toBe(
      '2026-11-27',
    );
  });

  it('keeps explicit dates', () => {
    expect(
      resolveDateRange(
        { start_date: '2026-01-01', end_date: '2026-01-01' },
        { timeZone: 'UTC', now, defaultDays: 30 },
      ),
    ).toMatchObject({ startDate: '2026-01-01', endDate: '2026-01-01' });
  });

  const failsOn = (query: { start_date?: string; end_date?: string }) => {
    try {
      resolveDateRange(query, { timeZone: 'UTC', now, defaultDays: 30 });
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationFailedError);
      return (error as ValidationFailedError).details.map((d) => d.field);
    }
    throw new Error('expected a validation error');
  };

  it('refuses impossible dates, reversed ranges and ranges over 366 days', () => {
    expect(failsOn({ start_date: '2026-02-30' })).toEqual(['start_date']);
    expect(failsOn({ end_date: 'foo' })).toEqual(['end_date']);
    expect(failsOn({ end_date: '2026-13-01' })).toEqual(['end_date']);
    expect(failsOn({ start_date: '0000-01-01', end_date: '0000-12-31' })).toEqual([
      'start_date',
      'end_date',
    ]);
    expect(failsOn({ start_date: '2026-1-1', end_date: 'yesterday' })).toEqual([
      'start_date',
      'end_date',
    ]);
    expect(failsOn({ start_date: '2026-03-02', end_date: '2026-03-01' })).toEqual(['end_date']);
    // A start_date alone after today, or more than 366 days back: the field sent is named.
    expect(failsOn({ start_date: '2026-11-27' })).toEqual(['start_date']);
    expect(failsOn({ start_date: '2025-01-01' })).toEqual(['start_date']);
    expect(failsOn({ start_date: '2025-01-01', end_date: '2026-01-02' })).toEqual(['end_date']);
    expect(
      resolveDateRange(
        { start_date: '2024-01-01', end_date: '2024-12-31' },
        { timeZone: 'UTC', now, defaultDays: 30 },
      ).endDate,
    ).toBe('2024-12-31');
  });
});

describe('date helpers', () => {
  it('knows real calendar dates, leap years included', () => {
    expect(isCalendarDate('2024-02-29')).toBe(true);
    expect(isCalendarDate('2026-02-29')).toBe(false);
    expect(isCalendarDate('2026-13-01')).toBe(false);
  });

  it('keeps dates where walking a range day by day as text stays in order', () => {
    expect(isCalendarDate('1970-01-01')).toBe(true);
    expect(isCalendarDate('9998-12-31')).toBe(true);
    expect(isCalendarDate('1969-12-31')).toBe(false);
    expect(isCalendarDate('9999-12-31')).toBe(false);
    // A default start 30 days before an end in January 1970 stops at the epoch.
    expect(
      resolveDateRange({ end_date: '1970-01-10' }, { timeZone: 'UTC', now, defaultDays: 30 })
        .startDate,
    ).toBe('1970-01-01');
  });

  it('adds days across month ends and tells the date in a zone', () => {
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
    expect(dateInZone(new Date('2026-11-26T02:00:00Z'), 'America/Los_Angeles')).toBe('2026-11-25');
  });
});
