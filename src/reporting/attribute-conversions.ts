import {
  AttributionModel,
  CREDIT_UNIT,
  apportion,
  creditSharesOf,
  modelWeights,
} from './attribution-models';

export interface Touchpoint {
  source: string;
  medium: string;
  campaign: string | null;
  /** Epoch milliseconds. */
  occurredAt: number;
}

export interface Conversion {
  eventType: string;
  /** Epoch milliseconds. */
  occurredAt: number;
  /** The report day of the conversion, in the report time zone. */
  date: string;
  /** Value as PostgreSQL numeric text, with its currency; null when the event had none. */
  value: string | null;
  currency: string | null;
  /** Touchpoints of the conversion's subject, in chronological order. */
  touchpoints: readonly Touchpoint[];
}

export interface Credit {
  source: string;
  medium: string;
  campaign: string | null;
  /** Millionths of the conversion. */
  share: number;
  /** Millionths of the conversion's value's currency unit: its part of the value. */
  micros: bigint;
}

export const DIRECT: Omit<Credit, 'share' | 'micros'> = {
  source: '(direct)',
  medium: '(none)',
  campaign: null,
};

/**
 * Shares one conversion, and `valueMicros` of its value, among its touchpoints: the
 * subject's events with a non-direct source from `lookbackDays` before the conversion up
 * to and including it. Without any, the whole conversion goes to (direct).
 */
export function attributeConversion(
  conversion: Conversion,
  model: AttributionModel,
  lookbackDays: number,
  valueMicros: bigint,
): Credit[] {
  const windowStart = conversion.occurredAt - lookbackDays * 86_400_000;
  const inWindow = conversion.touchpoints.filter(
    (touch) => touch.occurredAt >= windowStart && touch.occurredAt <= conversion.occurredAt,
  );
  return creditWindow(inWindow, model, valueMicros);
}

/**
 * The credit of a conversion among the touchpoints of its window. The
 * value is split by the model's own weights, not by the rounded shares, so a third of
 * 900,000,000 is 300,000,000, not 299,999,700.
 */
export function creditWindow(
  inWindow: readonly Touchpoint[],
  model: AttributionModel,
  valueMicros: bigint,
): Credit[] {
  if (inWindow.length === 0) return [{ ...DIRECT, share: CREDIT_UNIT, micros: valueMicros }];
  const weights = modelWeights(
    model,
    inWindow.map((touch) => touch.occurredAt),
  );
  const shares = creditSharesOf(weights);
  const parts = apportion(valueMicros, weights);
  return inWindow
    .map((touch, i) => ({
      source: touch.source,
      medium: touch.medium,
      campaign: touch.campaign,
      share: shares[i],
      micros: parts[i],
    }))
    .filter((credit) => credit.share > 0 || credit.micros > 0n);
}
