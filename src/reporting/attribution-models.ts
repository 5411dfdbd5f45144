import { assertUnreachable } from '../common/assert-unreachable';

/**
 * Multi-touch attribution: how one conversion's credit is shared among its touchpoints.
 * Credit is counted in integer millionths so that every conversion's shares sum to
 * exactly one (the rounding remainder goes to the most recent touchpoint), and report
 * totals are exact sums rather than floating-point approximations. Values are shared by
 * the same weights, to the millionth of their currency unit.
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
// Time-decay weights are at most 1 (a touchpoint at the conversion's time): scaled to 2^32
// they are integers that CREDIT_UNIT times any of them still holds exactly in a double.
const TIME_DECAY_SCALE = 2 ** 32;

/**
 * Per-touchpoint weights as integers, so a conversion and its value are shared in exact
 * proportions (a third is a third, not 0.333333 of the value); they need not sum to anything.
 */
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
        Math.round(
          Math.pow(2, -(conversionTime - time) / TIME_DECAY_HALF_LIFE_MS) * TIME_DECAY_SCALE,
        ),
      );
    default:
      return assertUnreachable(model);
  }
}

/**
 * 40% first, 40% last, 20% shared by the middle (as 2(n-2) : 1 : … : 1 : 2(n-2)); two
 * touchpoints 50/50; one gets all.
 */
function positionBasedWeights(n: number): number[] {
  if (n <= 2) return Array.from({ length: n }, () => 1);
  return Array.from({ length: n }, (_, i) => (i === 0 || i === n - 1 ? 2 * (n - 2) : 1));
}

/**
 * Credit per touchpoint, in millionths, in proportion to `weights` and summing to exactly
 * CREDIT_UNIT: each rounded down, the last weighted touchpoint (the latest with credit)
 * absorbing the remainder. Integer arithmetic in doubles: every product stays below 2^53.
 */
export function creditSharesOf(weights: readonly number[]): number[] {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  if (total <= 0) return [];
  const shares = weights.map((weight) => Math.floor((CREDIT_UNIT * weight) / total));
  shares[lastWeighted(weights)] += CREDIT_UNIT - shares.reduce((sum, share) => sum + share, 0);
  return shares;
}

/** `amount` (a value in millionths) shared as `creditSharesOf` shares the conversion. */
export function apportion(amount: bigint, weights: readonly number[]): bigint[] {
  const sum = weights.reduce((sum, weight) => sum + weight, 0);
  if (sum <= 0) return [];
  if (amount === 0n) return weights.map(() => 0n);
  const total = BigInt(sum);
  const parts = weights.map((weight) => (amount * BigInt(weight)) / total);
  parts[lastWeighted(weights)] += amount - parts.reduce((sum, part) => sum + part, 0n);
  return parts;
}

function lastWeighted(weights: readonly number[]): number {
  return weights.findLastIndex((weight) => weight > 0);
}
