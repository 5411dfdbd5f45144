import { ATTRIBUTION_MODELS } from '../attribution-models';
import { Conversion, Touchpoint, creditWindow } from '../attribute-conversions';
import { toMicros } from '../money';
import { CreditTuple, RollupDelta } from './attribution-refresh.repository';

/** The lookback the rollup is kept for: the report's default. Other lookbacks read raw events. */
export const ROLLUP_LOOKBACK_DAYS = 30;

/**
 * One conversion's credit under every model, as rollup keys with their amounts. The
 * touchpoints must be in chronological order: the window is found once, by binary search.
 */
export function creditTuples(conversion: Conversion): CreditTuple[] {
  const valued = conversion.value !== null && conversion.currency !== null;
  // Parsed once: every model credits shares of the same value.
  const valueMicros = valued ? toMicros(conversion.value!) : 0n;
  const { touchpoints, occurredAt } = conversion;
  const inWindow = touchpoints.slice(
    firstAtOrAfter(touchpoints, occurredAt - ROLLUP_LOOKBACK_DAYS * 86_400_000),
    firstAtOrAfter(touchpoints, occurredAt + 1),
  );
  const tuples: CreditTuple[] = [];
  for (const model of ATTRIBUTION_MODELS) {
    // Touchpoints of one source, medium and campaign share one rollup key: one tuple
    // each, shares and amounts summed as the rollup would sum them. A returning visitor
    // mostly comes back the same way, so this keeps stored credit small.
    const byKey = new Map<string, CreditTuple>();
    for (const credit of creditWindow(inWindow, model, valueMicros)) {
      const { micros } = credit;
      const key = `${credit.source}\u0000${credit.medium}\u0000${credit.campaign ?? ''}\u0000${credit.campaign === null}`;
      const same = byKey.get(key);
      if (same !== undefined) {
        same[7] += credit.share;
        same[8] = (BigInt(same[8]) + micros).toString();
        continue;
      }
      const tuple: CreditTuple = [
        model,
        conversion.date,
        conversion.eventType,
        credit.source,
        credit.medium,
        credit.campaign,
        valued ? conversion.currency : null,
        credit.share,
        micros.toString(),
      ];
      byKey.set(key, tuple);
      tuples.push(tuple);
    }
  }
  return tuples;
}

/** Index of the first touchpoint at or after `time` (touchpoints.length if none). */
function firstAtOrAfter(touchpoints: readonly Touchpoint[], time: number): number {
  let low = 0;
  let high = touchpoints.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (touchpoints[middle].occurredAt < time) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * What the rollup must change by when conversions' credit goes from `before` to
 * `after`: per key, the new amounts minus the old. Keys whose sums do not move are left
 * out; the rest are sorted so that concurrent writers lock rows in one order.
 */
// PostgreSQL text never holds NUL. A value is kept as "=" + text, null as "".
const SEPARATOR = '\u0000';

function keyOf(tuple: CreditTuple): string {
  let key = `=${tuple[0]}`;
  for (let i = 1; i < 7; i++) key += SEPARATOR + (tuple[i] === null ? '' : `=${tuple[i]}`);
  return key;
}

export function rollupDeltas(
  before: ReadonlyMap<string, readonly CreditTuple[]>,
  after: ReadonlyMap<string, readonly CreditTuple[]>,
): RollupDelta[] {
  const sums = new Map<string, { conversions: bigint; value: bigint; valued: number }>();
  const add = (tuple: CreditTuple, sign: 1n | -1n) => {
    const key = keyOf(tuple);
    const sum = sums.get(key) ?? { conversions: 0n, value: 0n, valued: 0 };
    sum.conversions += sign * BigInt(tuple[7]);
    sum.value += sign * BigInt(tuple[8]);
    if (tuple[6] !== null) sum.valued += Number(sign);
    sums.set(key, sum);
  };
  for (const [eventId, tuples] of after) {
    for (const tuple of before.get(eventId) ?? []) add(tuple, -1n);
    for (const tuple of tuples) add(tuple, 1n);
  }
  return [...sums]
    .filter(([, sum]) => sum.conversions !== 0n || sum.value !== 0n || sum.valued !== 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, sum]) => {
      const [model, day, event_type, source, medium, campaign, currency] = key
        .split(SEPARATOR)
        .map((part) => (part === '' ? null : part.slice(1))) as CreditTuple;
      return {
        model,
        day,
        event_type,
        source,
        medium,
        campaign,
        currency,
        conversions: sum.conversions.toString(),
        value_micros: sum.value.toString(),
        valued: sum.valued,
      };
    });
}

/**
 * The conversions whose new credit differs from the stored one: a mark recomputes every
 * conversion from its time on, and most come out the same, which would be rewritten for
 * nothing (a row version and its WAL each).
 */
export function changedCredits(
  before: ReadonlyMap<string, readonly CreditTuple[]>,
  after: ReadonlyMap<string, CreditTuple[]>,
): Map<string, CreditTuple[]> {
  return new Map(
    [...after].filter(([eventId, tuples]) => {
      const stored = before.get(eventId);
      return stored === undefined || !sameTuples(stored, tuples);
    }),
  );
}

/** Order aside: a conversion's tuples are distinct keys, so equal sets mean equal credit. */
function sameTuples(a: readonly CreditTuple[], b: readonly CreditTuple[]): boolean {
  if (a.length !== b.length) return false;
  const keys = new Set(a.map((tuple) => JSON.stringify(tuple)));
  return b.every((tuple) => keys.has(JSON.stringify(tuple)));
}
