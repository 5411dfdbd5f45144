import { performance } from 'node:perf_hooks';
import { Sql } from '../../persistence/database';
import { Conversion, Touchpoint } from '../attribute-conversions';
import {
  AttributionRefreshRepository,
  CreditTuple,
  SubjectEvent,
} from './attribution-refresh.repository';
import {
  ROLLUP_LOOKBACK_DAYS,
  changedCredits,
  creditTuples,
  rollupDeltas,
} from './conversion-credits';

/**
 * Bump when the way credit is computed changes: stored credit is then rebuilt, and an
 * older replica still running in a rolling deploy rebuilds it its way when it restarts,
 * so a bump is for changes worth that. (Rounding values beyond six decimals half up
 * instead of truncating them was not on its own; version 5's rebuild brings it along.)
 */
// 2: a shared value's rounding remainder goes to the last touchpoint; 3: credit stored packed;
// 4: shares floored without float noise; 5: values split by the model's exact weights, not by
// shares rounded to millionths (a third of 900,000,000 JPY was 299,999,700); 6: time-decay
// weights to 2^52, not 2^32 (an 89-day-old touchpoint's part of 10^9 was 23 units off);
// 7: parts by largest remainder, each within a unit of its share (position_based gave 0.400002)
const CREDIT_VERSION = 7;

/** What credit depends on besides the events. */
export interface PassSettings {
  timeZone: string;
  /** Undefined: every type except page_view. */
  conversionTypes: readonly string[] | undefined;
}

/**
 * Stored with the rollup: credit folded under other settings is not this process's to
 * extend. Spellings of the same settings (types in another order, Etc/UTC for UTC) agree.
 */
export function settingsFingerprint(settings: PassSettings): string {
  const types = settings.conversionTypes;
  return JSON.stringify({
    version: CREDIT_VERSION,
    lookbackDays: ROLLUP_LOOKBACK_DAYS,
    timeZone: new Intl.DateTimeFormat('en-US', { timeZone: settings.timeZone }).resolvedOptions()
      .timeZone,
    conversionTypes: types === undefined ? null : [...new Set(types)].sort(),
  });
}

/**
 * The rollup was restarted by a process with other settings (a replica started since
 * with another CONVERSION_EVENT_TYPES or REPORT_TIMEZONE): this one must neither fold
 * into it nor read it. Crosses the thread boundary by name.
 */
export const SETTINGS_MISMATCH = 'AttributionSettingsMismatch';

export function isSettingsMismatch(error: unknown): error is Error {
  return error instanceof Error && error.name === SETTINGS_MISMATCH;
}

/** How many marks a pass took, and the milliseconds it spent computing credit. */
export interface PassOutcome {
  taken: number;
  computeMs: number;
}

/**
 * Folds at most `limit` of the oldest marks into per-conversion credit and the daily
 * rollup, inside the caller's transaction: the marks are consumed only if the credit
 * they ask for commits with them.
 */
export async function foldMarks(
  sql: Sql,
  repository: AttributionRefreshRepository,
  limit: number,
  settings: PassSettings,
): Promise<PassOutcome> {
  await repository.lock(sql);
  if ((await repository.fingerprint(sql)) !== settingsFingerprint(settings)) {
    throw Object.assign(
      new Error('The attribution rollup was restarted with other settings by another process'),
      { name: SETTINGS_MISMATCH },
    );
  }
  const marks = await repository.takeMarks(sql, limit);
  if (marks.length === 0) return { taken: 0, computeMs: 0 };
  const events = await repository.subjectEvents(sql, marks, {
    lookbackHours: ROLLUP_LOOKBACK_DAYS * 24,
    timeZone: settings.timeZone,
    conversionTypes: settings.conversionTypes,
  });
  const computeStarted = performance.now();
  const after = new Map<string, CreditTuple[]>();
  for (const subjectEvents of groupBySubject(events)) {
    const touchpoints: Touchpoint[] = subjectEvents
      .filter((event) => event.source !== '(direct)')
      .map((event) => ({
        source: event.source,
        medium: event.medium,
        campaign: event.campaign,
        occurredAt: event.occurred_ms,
      }));
    for (const event of subjectEvents) {
      if (!event.recompute || !isConversion(event.event_type, settings)) continue;
      after.set(event.id, creditTuples(toConversion(event, touchpoints)));
    }
  }
  let computeMs = performance.now() - computeStarted;
  const before = await repository.previousCredits(sql, [...after.keys()]);
  const deltasStarted = performance.now();
  const deltas = rollupDeltas(before, after);
  computeMs += performance.now() - deltasStarted;
  await repository.applyDeltas(sql, deltas);
  await repository.saveCredits(sql, changedCredits(before, after));
  return { taken: marks.length, computeMs };
}

function isConversion(eventType: string, settings: PassSettings): boolean {
  const types = settings.conversionTypes;
  return types === undefined ? eventType !== 'page_view' : types.includes(eventType);
}

function* groupBySubject(events: readonly SubjectEvent[]): Generator<SubjectEvent[]> {
  let start = 0;
  for (let i = 1; i <= events.length; i++) {
    if (i === events.length || events[i].subject !== events[start].subject) {
      yield events.slice(start, i);
      start = i;
    }
  }
}

function toConversion(event: SubjectEvent, touchpoints: readonly Touchpoint[]): Conversion {
  return {
    eventType: event.event_type,
    occurredAt: event.occurred_ms,
    date: event.day,
    value: event.value,
    currency: event.currency,
    touchpoints,
  };
}
