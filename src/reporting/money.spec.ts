import { describe, expect, it } from 'vitest';
import { fromMicros, toMicros } from './money';

describe('money in millionths', () => {
  it('parses numeric text exactly', () => {
    expect(toMicros('49.9')).toBe(49_900_000n);
    expect(toMicros('0.000001')).toBe(1n);
    expect(toMicros('12')).toBe(12_000_000n);
    expect(toMicros('1.23456749')).toBe(1_234_567n);
  });

  it('rounds half up beyond six decimals, so a floating-point total is not a millionth short', () => {
    expect(toMicros('1.23456789')).toBe(1_234_568n);
    expect(toMicros('19.999999999999996')).toBe(20_000_000n);
    expect(toMicros('2.9999999')).toBe(3_000_000n);
    expect(toMicros('0.0000005')).toBe(1n);
    expect(toMicros('0.00000049')).toBe(0n);
    expect(toMicros('123456789012345678901234567890')).toBe(123456789012345678901234567890_000000n);
  });

  it('formats back with at most six decimals', () => {
    expect(fromMicros(49_900_000n)).toBe(49.9);
    expect(fromMicros(333_333n)).toBe(0.333333);
    expect(fromMicros(0n)).toBe(0);
  });

  it('sums thirds of a value without drift', () => {
    const third = (toMicros('10') * 333_333n) / 1_000_000n;
    const last = (toMicros('10') * 333_334n) / 1_000_000n;
    expect(fromMicros(third * 2n + last)).toBe(10);
  });
});
