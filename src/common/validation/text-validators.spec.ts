import { describe, expect, it } from 'vitest';
import { isHttpUrl } from './text-validators';

describe('isHttpUrl', () => {
  it.each(['https://shop.example.com/p?q=1', 'HTTP://a.example', 'http://127.0.0.1:8080/'])(
    'accepts %s',
    (url) => expect(isHttpUrl(url)).toBe(true),
  );

  it.each([
    'https:/shop.example.com/p',
    'https:shop.example.com',
    ' https://shop.example.com/',
    'ftp://shop.example.com/',
    'https://',
    '/checkout',
  ])('refuses %s, which the documented pattern does not match', (url) =>
    expect(isHttpUrl(url)).toBe(false),
  );
});
