import { AttributionModel, creditShares } from './attribution-models';

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
}

export const DIRECT: Omit<Credit, 'share'> = {
  source: '(direct)',
  medium: '(none)',
  campaign: null,
};

/**
 * Shares one conversion among its touchpoints: the subject's events with a non-direct
 * source from `lookbackDays` before the conversion up to and including it. Without any,
 * the whole conversion goes to (direct).
 */
export function attributeConversion(
  conversion: Conversion,
  model: AttributionModel,
  lookbackDays: number,
): Credit[] {
  const windowStart = conversion.occurredAt - lookbackDays * 86_400_000;
  const inWindow = conversion.touchpoints.filter(
    (touch) => touch.occurredAt >= windowStart && touch.occurredAt <= conversion.occurredAt,
  );
  return creditWindow(inWindow, model, conversion.occurredAt);
}

/** The credit of a conversion at `conversionTime` among the touchpoints of its window. */
export function creditWindow(
  inWindow: readonly Touchpoint[],
  model: AttributionModel,
  conversionTime: number,
): Credit[] {
  if (inWindow.length === 0) return [{ ...DIRECT, share: 1_000_000 }];
  const shares = creditShares(
    model,
    inWindow.map((touch) => touch.occurredAt),
    conversionTime,
  );
  return inWindow
    .map((touch, i) => ({
      source: touch.source,
      medium: touch.medium,
      campaign: touch.campaign,
      share: shares[i],
    }))
    .filter((credit) => credit.share > 0);
}
