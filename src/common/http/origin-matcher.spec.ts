import { describe, expect, it } from 'vitest';
import { createOriginMatcher, isValidOriginPattern } from './origin-matcher';

describe('createOriginMatcher', () => {
  const allowed = createOriginMatcher([
    'https://shop.example.com',
    'https://*.example.org',
    'http://localhost:8080',
  ]);

  it.each([
    'https://shop.example.com',
    'https://a.example.org',
    'https://a.b.example.org',
    'http://localhost:8080',
  ])('allows %s', (origin) => {
    expect(allowed(origin)).toBe(true);
  });

  it.each([
    'https://example.org',
    'https://shop.example.com.evil.com',
    'https://example.org.evil.com',
    'https://evilexample.org',
    'https://.example.org',
    'https://..example.org',
    'https://a..example.org',
    'http://shop.example.com',
    'https://shop.example.com:444',
    'https://Shop.Example.com',
    'https://shop.example.com/',
    'https://user@shop.example.com',
    'null',
    '',
    'file://',
    'http://localhost:8081',
  ])('refuses %s', (origin) => {
    expect(allowed(origin)).toBe(false);
  });

  it('matches a pattern written with its scheme’s default port as browsers write the origin, without it', () => {
    const withPorts = createOriginMatcher(['https://*.example.com:443', 'http://*.example.net:80']);
    expect(withPorts('https://a.example.com')).toBe(true);
    expect(withPorts('http://a.example.net')).toBe(true);
    expect(withPorts('https://a.example.com:8443')).toBe(false);
    expect(createOriginMatcher(['https://*.example.com:8443'])('https://a.example.com:8443')).toBe(
      true,
    );
  });

  it('allows nothing when the list is empty', () => {
    expect(createOriginMatcher([])('https://shop.example.com')).toBe(false);
  });
});

describe('isValidOriginPattern', () => {
  it.each(['https://a.com', 'https://*.a.com', 'http://localhost:3000', 'https://a.com:65535'])(
    'accepts %s',
    (p) => expect(isValidOriginPattern(p)).toBe(true),
  );
  it.each([
    '*',
    'https://*',
    'a.com',
    'https://a.com/path',
    'https://a.*.com',
    'ftp://a.com',
    'https://a.com:99999',
    'https://*.a.com:65536',
  ])('rejects %s', (p) => expect(isValidOriginPattern(p)).toBe(false));
});
