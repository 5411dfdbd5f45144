import { describe, expect, it } from 'vitest';
import { KnownLinks } from './known-links';

describe('KnownLinks', () => {
  it('knows a visitor’s newest user only from a link it created', () => {
    const links = new KnownLinks();
    links.add('v', 'old-user', true);
    links.add('v', 'new-user', true);
    links.add('v', 'old-user', false); // an event of the older pair, seen again
    expect(links.has('v', 'old-user')).toBe(true);
    expect(links.has('v', 'new-user')).toBe(true);
    expect(links.newestUserOf('v')).toBe('new-user');
    expect(links.newestUserOf('other')).toBeUndefined();
  });

  it('forgets the oldest entries beyond its capacity', () => {
    const links = new KnownLinks(2);
    links.add('v1', 'u1', true);
    links.add('v2', 'u2', true);
    links.add('v1', 'u3', true); // v1's newest moves to the back
    links.add('v3', 'u4', true);
    expect(links.has('v1', 'u1')).toBe(false);
    expect(links.has('v3', 'u4')).toBe(true);
    expect(links.newestUserOf('v2')).toBeUndefined();
    expect(links.newestUserOf('v1')).toBe('u3');
  });

  it('does not read a visitor and user that run together as another pair', () => {
    const links = new KnownLinks();
    links.add('ab', 'c', false);
    expect(links.has('a', 'bc')).toBe(false);
  });
});
