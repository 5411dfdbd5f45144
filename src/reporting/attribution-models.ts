import { assertUnreachable } from '../common/assert-unreachable';

/**
 * Multi-touch attribution: how one conversion's credit is shared among its touchpoints.
 * Credit is counted in integer millionths so that every conversion's shares sum to
 * exactly one (the rounding remainder goes to the most recent touchpoint), and report
 * totals are exact sums rather than floating-point approximations.
 */
export const ATTRIBUTION_MODELS = [
  'last_touch',
  'first_touch',
  'linear',
  'position_based',
  'time_decay',
] as const;
export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number];

export const CREDIT_UNIT = 1_000_000;
export const TIME_DECAY_HALF_LIFE_MS = 7 * 86_400_000;

/** Per-touchpoint weights before scaling; they need not sum to one. */
export function modelWeights(
  model: AttributionModel,
  touchTimes: readonly number[],
  conversionTime: number,
): number[] {
  const n = touchTimes.length;
  if (n === 0) return [];
  switch (model) {
    case 'last_touch':
      return touchTimes.map((_, i) => (i === n - 1 ? 1 : 0));
    case 'first_touch':
      return touchTimes.map((_, i) => (i === 0 ? 1 : 0));
    case 'linear':
      return touchTimes.map(() => 1);
    case 'position_based':
      return positionBasedWeights(n);
    case 'time_decay':
      return touchTimes.map((time) =>
        Math.pow(2, -(conversionTime - time) / TIME_DECAY_HALF_LIFE_MS),
      );
    default:
      return assertUnreachable(model);
  }
}

/** 40% first, 40% last, 20% shared by the middle; two touchpoints 50/50; one gets all. */
function positionBasedWeights(n: number): number[] {
  if (n === 1) return [1];
  if (n === 2) return [0.5, 0.5];
  const middle = 0.2 / (n - 2);
  return Array.from({ length: n }, (_, i) => (i === 0 || i === n - 1 ? 0.4 : middle));
}

/**
 * Credit per touchpoint, in millionths, summing to exactly CREDIT_UNIT. Touchpoints
 * are in chronological order; the last one absorbs the rounding remainder.
 */
export function creditShares(
  model: AttributionModel,
  touchTimes: readonly number[],
  conversionTime: number,
): number[] {
  const weights = modelWeights(model, touchTimes, conversionTime);
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  if (weights.length === 0 || total <= 0) return [];
  // The epsilon absorbs float noise: ten position-based weights sum to 1.0000000000000002,
  // and 0.025 / that × 10^6 must floor to 25,000, not 24,999.
  const shares = weights.map((weight) => Math.floor((weight / total) * CREDIT_UNIT + 1e-6));
  const assigned = shares.reduce((sum, share) => sum + share, 0);
  shares[shares.length - 1] += CREDIT_UNIT - assigned;
  return shares;
}
