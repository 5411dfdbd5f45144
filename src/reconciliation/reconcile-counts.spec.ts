import { describe, expect, it } from 'vitest';
import { CountsToReconcile, reconcileCounts } from './reconcile-counts';

function input(overrides: Partial<CountsToReconcile> = {}): CountsToReconcile {
  return {
    startDate: '2026-11-01',
    endDate: '2026-11-02',
    timeZone: 'UTC',
    eventTypes: ['purchase'],
    nameMap: {},
    ga4: [],
    db: [],
    ga4Metadata: {
      subject_to_thresholding: false,
      sampled: false,
      data_loss_from_other_row: false,
    },
    thresholds: { warningPct: 5, criticalPct: 20 },
    now: new Date('2026-11-26T12:00:00Z'),
    ...overrides,
  };
}

const statusOf = (ga4: number, db: number, thresholds = { warningPct: 5, criticalPct: 20 }) =>
  reconcileCounts(
    input({
      ga4: [{ date: '2026-11-01', eventName: 'purchase', count: ga4 }],
      db: [{ date: '2026-11-01', eventType: 'purchase', count: db }],
      thresholds,
    }),
  ).rows[0];

describe('reconcileCounts', () => {
  it('grades the gap against the thresholds (inclusive), and by missing side', () => {
    expect(statusOf(100, 104)).toMatchObject({ difference: 4, difference_pct: 4, status: 'match' });
    expect(statusOf(100, 105)).toMatchObject({ difference_pct: 5, status: 'warning' });
    expect(statusOf(100, 81)).toMatchObject({ difference: -19, status: 'warning' });
    expect(statusOf(100, 80)).toMatchObject({ difference_pct: -20, status: 'critical' });
    expect(statusOf(0, 3)).toMatchObject({ difference_pct: null, status: 'missing_in_ga4' });
    expect(statusOf(3, 0)).toMatchObject({ difference_pct: -100, status: 'missing_in_db' });
    expect(statusOf(3, 1).difference_pct).toBe(-66.67);
  });

  it('rounds a gap to the same size whichever side counted more, so its status is the same', () => {
    expect(statusOf(20_000, 20_999)).toMatchObject({ difference_pct: 5, status: 'warning' });
    expect(statusOf(20_000, 19_001)).toMatchObject({ difference_pct: -5, status: 'warning' });
    expect(statusOf(800, 801).difference_pct).toBe(0.13);
    expect(statusOf(800, 799).difference_pct).toBe(-0.13);
  });

  it('with thresholds of 0, flags any difference but not an exact match', () => {
    const zero = { warningPct: 0, criticalPct: 0 };
    expect(statusOf(20, 20, zero).status).toBe('match');
    expect(statusOf(20, 21, zero).status).toBe('critical');
    expect(statusOf(20, 20, { warningPct: 0, criticalPct: 20 }).status).toBe('match');
    expect(statusOf(20, 21, { warningPct: 0, criticalPct: 20 }).status).toBe('warning');
  });

  it('leaves out pairs both sides counted zero, maps names, and sums the summary', () => {
    const report = reconcileCounts(
      input({
        eventTypes: ['sign_up', 'purchase'],
        nameMap: { sign_up: 'signup_done' },
        ga4: [
          { date: '2026-11-02', eventName: 'signup_done', count: 10 },
          { date: '2026-11-02', eventName: 'sign_up', count: 99 },
        ],
        db: [{ date: '2026-11-02', eventType: 'sign_up', count: 10 }],
      }),
    );
    expect(report.rows).toEqual([
      expect.objectContaining({
        date: '2026-11-02',
        event_type: 'sign_up',
        ga4_event_name: 'signup_done',
        ga4_count: 10,
        status: 'match',
      }),
    ]);
    expect(report.status).toBe('ok');
    expect(report.summary).toEqual({
      ga4_total: 10,
      db_total: 10,
      difference: 0,
      difference_pct: 0,
    });
    expect(report.notes).toEqual([]);
  });

  it('marks days reaching into the last 48 hours provisional, in the property zone', () => {
    const report = reconcileCounts(
      input({
        startDate: '2026-11-23',
        endDate: '2026-11-26',
        timeZone: 'Pacific/Auckland', // 2026-11-26T12:00Z is 2026-11-27 01:00 there
        db: ['2026-11-23', '2026-11-24', '2026-11-25', '2026-11-26'].map((date) => ({
          date,
          eventType: 'purchase',
          count: 1,
        })),
        ga4: ['2026-11-23', '2026-11-24', '2026-11-25', '2026-11-26'].map((date) => ({
          date,
          eventName: 'purchase',
          count: 1,
        })),
      }),
    );
    expect(report.rows.map((row) => [row.date, row.provisional])).toEqual([
      ['2026-11-23', false],
      ['2026-11-24', false],
      ['2026-11-25', true],
      ['2026-11-26', true],
    ]);
    expect(report.notes[0]).toContain('Rows from 2026-11-25 on are provisional');
  });

  it('explains gaps in either direction and GA4 data-quality flags', () => {
    const report = reconcileCounts(
      input({
        eventTypes: ['purchase', 'sign_up'],
        ga4: [{ date: '2026-11-01', eventName: 'sign_up', count: 10 }],
        db: [{ date: '2026-11-01', eventType: 'purchase', count: 10 }],
        ga4Metadata: {
          subject_to_thresholding: true,
          sampled: true,
          data_loss_from_other_row: true,
        },
      }),
    );
    expect(report.status).toBe('discrepancies');
    const notes = report.notes.join('\n');
    expect(notes).toContain('ad blockers');
    expect(notes).toContain('GA4 counts more than we do');
    expect(notes).toContain('GA4 has no "purchase" events');
    expect(notes).toContain('thresholding');
    expect(notes).toContain('sampled');
    expect(notes).toContain('(other)');
  });
});
