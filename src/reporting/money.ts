/** Money in integer millionths of a currency unit, so sums of credited values are exact. */
export const MICROS = 1_000_000n;

/**
 * A PostgreSQL numeric as text ("49.9", "1e+300" never occurs for numeric output) to
 * millionths, rounded half up beyond 6 places: a client's floating-point total such as
 * 19.999999999999996 is 20, not 19.999999.
 */
export function toMicros(value: string): bigint {
  const negative = value.startsWith('-');
  const [whole, fraction = ''] = (negative ? value.slice(1) : value).split('.');
  const digits = (fraction + '0000000').slice(0, 7);
  const roundUp = digits[6] >= '5' ? 1n : 0n;
  const micros = BigInt(whole || '0') * MICROS + BigInt(digits.slice(0, 6)) + roundUp;
  return negative ? -micros : micros;
}

/** Millionths back to a number with at most 6 decimals, for JSON. */
export function fromMicros(micros: bigint): number {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const text = `${abs / MICROS}.${(abs % MICROS).toString().padStart(6, '0')}`;
  return Number(negative ? `-${text}` : text);
}
