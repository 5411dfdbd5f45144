import { assertUnreachable } from '../common/assert-unreachable';

/**
 * Multi-touch attribution: how one conversion's credit is shared among its touchpoints.
 * Credit is counted in integer millionths so that every conversion's shares sum to
 * exactly one (each share rounded down or up by largest remainder), and report
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
// Time-decay weights relative to the latest touchpoint are at most 1: scaled to 2^52 they
// keep all of a double's precision as integers.
const TIME_DECAY_SCALE = 2 ** 52;

/**
 * Per-touchpoint weights as integers, so a conversion and its value are shared in exact
 * proportions (a third is a third, not 0.333333 of the value); they need not sum to anything.
 */
export function modelWeights(model: AttributionModel, touchTimes: readonly number[]): bigint[] {
  const n = touchTimes.length;
  if (n === 0) return [];
  switch (model) {
    case 'last_touch':
      return touchTimes.map((_, i) => (i === n - 1 ? 1n : 0n));
    case 'first_touch':
      return touchTimes.map((_, i) => (i === 0 ? 1n : 0n));
    case 'linear':
      return touchTimes.map(() => 1n);
    case 'position_based':
      return positionBasedWeights(n);
    case 'time_decay': {
      // Only proportions count: each weight is taken relative to the latest touchpoint's,
      // which is then exactly the scale, so no weight loses precision to the conversion's distance.
      // A loop, not Math.max(...): a subject may have more touchpoints than a call takes arguments.
      const latest = touchTimes.reduce((max, time) => (time > max ? time : max), -Infinity);
      return touchTimes.map((time) =>
        BigInt(
          Math.round(Math.pow(2, -(latest - time) / TIME_DECAY_HALF_LIFE_MS) * TIME_DECAY_SCALE),
        ),
      );
    }
    default:
      return assertUnreachable(model);
  }
}

/**
 * 40% first, 40% last, 20% shared by the middle (as 2(n-2) : 1 : … : 1 : 2(n-2)); two
 * touchpoints 50/50; one gets all.
 */
function positionBasedWeights(n: number): bigint[] {
  if (n <= 2) return Array.from({ length: n }, () => 1n);
  return Array.from({ length: n }, (_, i) => (i === 0 || i === n - 1 ? BigInt(2 * (n - 2)) : 1n));
}

/**
 * Credit per touchpoint, in millionths, in proportion to `weights` and summing to exactly
 * CREDIT_UNIT (see `apportion`).
 */
export function creditSharesOf(weights: readonly bigint[]): number[] {
  return apportion(BigInt(CREDIT_UNIT), weights).map(Number);
}

/**
 * `amount` (a value in millionths, or CREDIT_UNIT) shared in proportion to `weights`, by
 * largest remainder: each part is its exact share rounded down or up, within one unit of
 * it, and the parts add up to `amount`. (Giving the whole remainder to one part put the
 * last touchpoint of five up to four units off: 0.400002 where position_based says 0.4.)
 * Equal remainders favour the later touchpoint.
 */
export function apportion(amount: bigint, weights: readonly bigint[]): bigint[] {
  const total = weights.reduce((sum, weight) => sum + weight, 0n);
  if (total <= 0n) return [];
  if (amount === 0n) return weights.map(() => 0n);
  const parts = weights.map((weight) => (amount * weight) / total);
  let left = amount - parts.reduce((sum, part) => sum + part, 0n);
  if (left === 0n) return parts;
  const remainders = weights.map((weight) => (amount * weight) % total);
  const byRemainder = weights
    .map((_, index) => index)
    .sort((a, b) =>
      remainders[b] > remainders[a] ? 1 : remainders[b] < remainders[a] ? -1 : b - a,
    );
  // `left` is under the number of non-zero remainders, so a zero weight never gains a unit.
  for (const index of byRemainder) {
    if (left === 0n) break;
    parts[index] += 1n;
    left -= 1n;
  }
  return parts;
}
