import { describe, expect, it } from 'vitest';
import { cutDeeperThan } from './json-body-parser';

const nested = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { a: value } : [value];
  return value;
};
/** Levels of non-empty objects or arrays along the first key's path. */
const depthOf = (value: unknown): number => {
  let depth = 0;
  for (let current = value; current !== null && typeof current === 'object'; depth++) {
    const children = Object.values(current);
    if (children.length === 0) return depth;
    current = children[0];
  }
  return depth;
};

describe('cutDeeperThan', () => {
  it('keeps values nested up to the limit as they are', () => {
    const value = { keep: nested(3), list: [nested(2), 'x'] };
    const before = structuredClone(value);
    cutDeeperThan(value, 4);
    expect(value).toEqual(before);
  });

  it('replaces what lies below the limit with an empty object, in objects and arrays alike', () => {
    const value = { deep: nested(6), list: [nested(6)], flat: 1 };
    cutDeeperThan(value, 4);
    // The root is level 0: levels 1 to 3 stay, level 4 is the empty object.
    expect(depthOf(value.deep)).toBe(3);
    expect(depthOf(value.list)).toBe(3);
    expect(value.list[0]).toEqual([{ a: {} }]);
    expect(value.flat).toBe(1);
  });

  it('walks a nesting far beyond the call stack’s reach', () => {
    const value = { deep: JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) };
    expect(() => cutDeeperThan(value, 32)).not.toThrow();
    expect(depthOf(value)).toBe(32);
  });
});
