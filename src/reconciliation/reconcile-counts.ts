import { addDays, dateInZone } from '../common/validation/date-range';

export type RowStatus = 'match' | 'warning' | 'critical' | 'missing_in_ga4' | 'missing_in_db';

export interface ReconciliationRow {
  date: string;
  event_type: string;
  ga4_event_name: string;
  ga4_count: number;
  db_count: number;
  difference: number;
  difference_pct: number | null;
  status: RowStatus;
  provisional: boolean;
}

export interface Ga4Metadata {
  subject_to_thresholding: boolean;
  sampled: boolean;
  data_loss_from_other_row: boolean;
}

export interface ReconciliationBody {
  status: 'ok' | 'discrepancies';
  thresholds: { warning_pct: number; critical_pct: number };
  summary: {
    ga4_total: number;
    db_total: number;
    difference: number;
    difference_pct: number | null;
  };
  rows: ReconciliationRow[];
  ga4_metadata: Ga4Metadata;
  notes: string[];
}

export interface CountsToReconcile {
  startDate: string;
  endDate: string;
  /** The GA4 property's time zone: both sides' days are its days. */
  timeZone: string;
  eventTypes: readonly string[];
  /** Our event type → GA4 event name; unmapped types keep their name. */
  nameMap: Readonly<Record<string, string>>;
  ga4: readonly { date: string; eventName: string; count: number }[];
  db: readonly { date: string; eventType: string; count: number }[];
  ga4Metadata: Ga4Metadata;
  thresholds: { warningPct: number; criticalPct: number };
  now: Date;
}

/** Days GA4 may still be processing: those that reach into the last 48 hours. */
const PROVISIONAL_HOURS = 48;

export function ga4NameFor(eventType: string, nameMap: Readonly<Record<string, string>>): string {
  return Object.hasOwn(nameMap, eventType) ? nameMap[eventType] : eventType;
}

/**
 * Compares GA4's counts with ours per day and event type. `difference = db − ga4`,
 * `difference_pct = difference / ga4 × 100` (null when GA4 counted none); a pair both
 * sides counted zero has no row.
 */
export function reconcileCounts(input: CountsToReconcile): ReconciliationBody {
  const ga4 = new Map<string, number>();
  for (const row of input.ga4) {
    const key = `${row.date}|${row.eventName}`;
    ga4.set(key, (ga4.get(key) ?? 0) + row.count);
  }
  const db = new Map(input.db.map((row) => [`${row.date}|${row.eventType}`, row.count]));
  const firstProvisional = dateInZone(
    new Date(input.now.getTime() - PROVISIONAL_HOURS * 3_600_000),
    input.timeZone,
  );
  const rows: ReconciliationRow[] = [];
  for (let date = input.startDate; date <= input.endDate; date = addDays(date, 1)) {
    for (const eventType of [...input.eventTypes].sort()) {
      const ga4EventName = ga4NameFor(eventType, input.nameMap);
      const ga4Count = ga4.get(`${date}|${ga4EventName}`) ?? 0;
      const dbCount = db.get(`${date}|${eventType}`) ?? 0;
      if (ga4Count === 0 && dbCount === 0) continue;
      const difference = dbCount - ga4Count;
      const differencePct = percent(difference, ga4Count);
      rows.push({
        date,
        event_type: eventType,
        ga4_event_name: ga4EventName,
        ga4_count: ga4Count,
        db_count: dbCount,
        difference,
        difference_pct: differencePct,
        status: rowStatus(ga4Count, dbCount, differencePct, input.thresholds),
        provisional: date >= firstProvisional,
      });
    }
  }
  const ga4Total = rows.reduce((sum, row) => sum + row.ga4_count, 0);
  const dbTotal = rows.reduce((sum, row) => sum + row.db_count, 0);
  return {
    status: rows.every((row) => row.status === 'match') ? 'ok' : 'discrepancies',
    thresholds: {
      warning_pct: input.thresholds.warningPct,
      critical_pct: input.thresholds.criticalPct,
    },
    summary: {
      ga4_total: ga4Total,
      db_total: dbTotal,
      difference: dbTotal - ga4Total,
      difference_pct: percent(dbTotal - ga4Total, ga4Total),
    },
    rows,
    ga4_metadata: input.ga4Metadata,
    notes: notesFor(rows, input),
  };
}

/** Rounded half away from zero (Math.round rounds -0.5 up): a gap's size, and so its status, is the same either way. */
function percent(difference: number, base: number): number | null {
  if (base === 0) return null;
  const hundredths = (difference / base) * 10_000;
  return (Math.sign(hundredths) * Math.round(Math.abs(hundredths))) / 100;
}

function rowStatus(
  ga4Count: number,
  dbCount: number,
  differencePct: number | null,
  thresholds: { warningPct: number; criticalPct: number },
): RowStatus {
  if (ga4Count === 0) return 'missing_in_ga4';
  if (dbCount === 0) return 'missing_in_db';
  // Thresholds of 0 flag any difference, not an exact match.
  if (dbCount === ga4Count) return 'match';
  const gap = Math.abs(differencePct ?? 0);
  if (gap >= thresholds.criticalPct) return 'critical';
  if (gap >= thresholds.warningPct) return 'warning';
  return 'match';
}

function notesFor(rows: readonly ReconciliationRow[], input: CountsToReconcile): string[] {
  const notes: string[] = [];
  const provisional = rows.filter((row) => row.provisional);
  if (provisional.length > 0) {
    notes.push(
      `Rows from ${provisional[0].date} on are provisional: GA4 is still processing the last 48 hours, so its counts for them may still rise.`,
    );
  }
  if (rows.some((row) => row.difference > 0 && row.status !== 'match')) {
    notes.push(
      'Where we count more than GA4: ad blockers and browser privacy features block the GA4 tag more often than first-party tracking, visitors who decline analytics consent are missing from GA4 (or only modelled), and GA4 drops known bots and spiders that it identifies by its own lists.',
    );
  }
  if (rows.some((row) => row.difference < 0 && row.status !== 'match')) {
    notes.push(
      'Where GA4 counts more than we do: GA4 also counts events from pages or apps that do not send them here, events it collects automatically, and events sent under the same name by other tags; check GA4_EVENT_NAME_MAP if a name differs between the two.',
    );
  }
  for (const eventType of new Set(
    rows.filter((r) => r.status === 'missing_in_ga4').map((r) => r.event_type),
  )) {
    notes.push(
      `GA4 has no "${ga4NameFor(eventType, input.nameMap)}" events on some days we recorded "${eventType}": the event may not be sent to GA4, or be named differently there (GA4_EVENT_NAME_MAP).`,
    );
  }
  if (input.ga4Metadata.subject_to_thresholding) {
    notes.push(
      'GA4 applied thresholding to this report (low counts withheld to protect user privacy), so some of its counts are lower than what it collected.',
    );
  }
  if (input.ga4Metadata.sampled) {
    notes.push('GA4 sampled this report: its counts are estimates.');
  }
  if (input.ga4Metadata.data_loss_from_other_row) {
    notes.push(
      'GA4 grouped some rows into "(other)" (high cardinality), so some of its counts are missing from the compared names.',
    );
  }
  return notes;
}
