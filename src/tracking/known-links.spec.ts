import { describe, expect, it } from 'vitest';
import { KnownLinks } from './known-links';

describe('KnownLinks', () => {
  it('knows each pair seen, and a visitor’s newest user as the database last named it', () => {
    const links = new KnownLinks();
    links.add('v', 'old-user', 'old-user');
    links.add('v', 'new-user', 'new-user');
    // An event of the older pair, seen again: the database still names the newer user.
    links.add('v', 'old-user', 'new-user');
    expect(links.has('v', 'old-user')).toBe(true);
    expect(links.has('v', 'new-user')).toBe(true);
    expect(links.newestUserOf('v')).toBe('new-user');
    expect(links.newestUserOf('other')).toBeUndefined();
  });

  it('forgets the oldest entries beyond its capacity', () => {
    const links = new KnownLinks(2);
    links.add('v1', 'u1', 'u1');
    links.add('v2', 'u2', 'u2');
    links.add('v1', 'u3', 'u3'); // v1's newest moves to the back
    links.add('v3', 'u4', 'u4');
    expect(links.has('v1', 'u1')).toBe(false);
    expect(links.has('v3', 'u4')).toBe(true);
    expect(links.newestUserOf('v2')).toBeUndefined();
    expect(links.newestUserOf('v1')).toBe('u3');
  });

  it('does not read a visitor and user that run together as another pair', () => {
    const links = new KnownLinks();
    links.add('ab', 'c', null);
    expect(links.has('a', 'bc')).toBe(false);
  });
});
