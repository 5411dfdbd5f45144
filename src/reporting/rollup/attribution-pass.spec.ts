import { describe, expect, it } from 'vitest';
import { settingsFingerprint } from './attribution-pass';

describe('settingsFingerprint', () => {
  it('agrees on spellings of the same settings', () => {
    expect(
      settingsFingerprint({
        timeZone: 'Etc/UTC',
        conversionTypes: ['sign_up', 'purchase', 'purchase'],
      }),
    ).toBe(settingsFingerprint({ timeZone: 'UTC', conversionTypes: ['purchase', 'sign_up'] }));
  });

  it('tells different settings apart', () => {
    const base = settingsFingerprint({ timeZone: 'UTC', conversionTypes: undefined });
    expect(settingsFingerprint({ timeZone: 'UTC', conversionTypes: ['purchase'] })).not.toBe(base);
    expect(settingsFingerprint({ timeZone: 'Europe/Berlin', conversionTypes: undefined })).not.toBe(
      base,
    );
  });
});
