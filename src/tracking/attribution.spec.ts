import { describe, expect, it } from 'vitest';
import { deriveAttribution, deriveChannel, resolveCampaignParams } from './attribution';

describe('resolveCampaignParams', () => {
  it('takes each missing parameter from the page URL, trimmed, source and medium lower-cased', () => {
    expect(
      resolveCampaignParams(
        { utm_campaign: ' Body Campaign ' },
        new URL(
          'https://shop.example.com/?utm_source=%20Google&utm_medium=CPC&utm_campaign=url&gclid=G1&msclkid=&utm_term=shoes',
        ),
      ),
    ).toEqual({
      utm_source: 'google',
      utm_medium: 'cpc',
      utm_campaign: 'Body Campaign',
      utm_term: 'shoes',
      gclid: 'G1',
    });
  });

  it('treats blank values as absent, and works without a page URL', () => {
    expect(resolveCampaignParams({ utm_source: '   ', utm_medium: null }, undefined)).toEqual({});
  });

  it('ignores URL values PostgreSQL cannot store, and never splits a character when capping', () => {
    expect(
      resolveCampaignParams({}, new URL('https://a.example/?utm_source=%00x&utm_medium=ok')),
    ).toEqual({ utm_medium: 'ok' });
    const capped = resolveCampaignParams(
      {},
      new URL(`https://a.example/?utm_campaign=${'x'.repeat(255)}%F0%9F%98%80`),
    );
    expect(capped.utm_campaign).toBe(`${'x'.repeat(255)}😀`);
    // Characters, as the body's fields are counted: not UTF-16 units, which would halve emoji.
    const emoji = resolveCampaignParams(
      {},
      new URL(`https://a.example/?utm_campaign=${'%F0%9F%98%80'.repeat(300)}`),
    );
    expect(emoji.utm_campaign).toBe('😀'.repeat(256));
  });

  it('caps values read from the URL as the body caps them: UTM tags at 256, click ids at 512', () => {
    const url = (value: string) =>
      new URL(`https://a.example/?utm_campaign=${value}&gclid=${value}&msclkid=${value}`);
    const long = resolveCampaignParams({}, url('x'.repeat(600)));
    expect(long.utm_campaign).toHaveLength(256);
    expect(long.gclid).toHaveLength(512);
    expect(long.msclkid).toHaveLength(512);
    expect(resolveCampaignParams({}, url('x'.repeat(400))).gclid).toHaveLength(400);
  });
});

describe('deriveAttribution', () => {
  const derive = (
    params: Parameters<typeof deriveAttribution>[0],
    referrer?: string,
    ownHost = 'shop.example.com',
  ) => deriveAttribution(params, referrer, ownHost);

  it('uses UTM tags first, even over click ids and referrers', () => {
    expect(
      derive(
        { utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'bf', gclid: 'x' },
        'https://www.google.com/',
      ),
    ).toEqual({
      source: 'newsletter',
      medium: 'email',
      campaign: 'bf',
      channel: 'email',
    });
  });

  it('marks a missing half of a UTM pair (not set)', () => {
    expect(derive({ utm_source: 'partner' })).toMatchObject({
      source: 'partner',
      medium: '(not set)',
    });
  });

  it('maps gclid to google / cpc and msclkid to bing / cpc', () => {
    expect(derive({ gclid: 'g' })).toEqual({
      source: 'google',
      medium: 'cpc',
      campaign: null,
      channel: 'paid_search',
    });
    expect(derive({ msclkid: 'm' })).toEqual({
      source: 'bing',
      medium: 'cpc',
      campaign: null,
      channel: 'paid_search',
    });
  });

  it('does not treat fbclid as a paid click on its own', () => {
    expect(derive({ fbclid: 'f' }, 'https://m.facebook.com/')).toMatchObject({
      source: 'facebook',
      medium: 'social',
      channel: 'organic_social',
    });
  });

  it.each([
    ['https://www.google.com/', 'google', 'organic', 'organic_search'],
    ['https://www.google.co.jp/search?q=1', 'google', 'organic', 'organic_search'],
    ['https://google.com/', 'google', 'organic', 'organic_search'],
    ['https://uk.search.yahoo.com/search?p=1', 'yahoo', 'organic', 'organic_search'],
    ['https://espanol.search.yahoo.com/search?p=1', 'yahoo', 'organic', 'organic_search'],
    // A search brand's other hosts are referrals by their host, in GA4's channel for it.
    ['https://mail.google.com/mail/u/0/', 'mail.google.com', 'referral', 'organic_search'],
    ['https://groups.google.com/g/x', 'groups.google.com', 'referral', 'organic_social'],
    ['https://accounts.google.com/', 'accounts.google.com', 'referral', 'referral'],
    ['https://mail.yahoo.com/', 'mail.yahoo.com', 'referral', 'referral'],
    ['https://www.bing.com/search?q=1', 'bing', 'organic', 'organic_search'],
    ['https://duckduckgo.com/', 'duckduckgo', 'organic', 'organic_search'],
    ['https://t.co/abc', 'twitter', 'social', 'organic_social'],
    ['https://www.linkedin.com/feed', 'linkedin', 'social', 'organic_social'],
    ['https://news.ycombinator.com/item?id=1', 'news.ycombinator.com', 'referral', 'referral'],
    ['https://www.partner.example.net/', 'partner.example.net', 'referral', 'referral'],
    // GA4 counts video sites as Organic Video, which this service reports as other.
    ['https://www.youtube.com/watch?v=1', 'youtube', 'referral', 'other'],
  ])('classifies referrer %s as %s / %s', (referrer, source, medium, channel) => {
    expect(derive({}, referrer)).toEqual({ source, medium, campaign: null, channel });
  });

  it('ignores a referrer on the site’s own host, with or without www', () => {
    expect(derive({}, 'https://www.shop.example.com/cart')).toMatchObject({
      source: '(direct)',
      medium: '(none)',
      channel: 'direct',
    });
  });

  it('is direct with no signal at all', () => {
    expect(derive({}, undefined, undefined)).toEqual({
      source: '(direct)',
      medium: '(none)',
      campaign: null,
      channel: 'direct',
    });
  });
});

describe('deriveChannel (GA4 default channel grouping)', () => {
  it.each([
    ['(direct)', '(none)', 'direct'],
    ['google', 'cpc', 'paid_search'],
    ['bing', 'ppc', 'paid_search'],
    ['facebook', 'paid_social', 'paid_social'],
    ['fb', 'cpc', 'paid_social'],
    ['instagram', 'paid', 'paid_social'],
    ['newsletter', 'cpc', 'other'],
    ['google', 'organic', 'organic_search'],
    ['anything', 'organic', 'organic_search'],
    ['ecosia.org', 'referral', 'organic_search'],
    ['linkedin', 'social', 'organic_social'],
    ['mastodon.example', 'social-network', 'organic_social'],
    ['newsletter', 'email', 'email'],
    ['e-mail', 'blast', 'email'],
    ['partner.example', 'referral', 'referral'],
    ['partner', 'affiliate', 'other'],
    // Display and video come before the organic rules (GA4's order); neither is a channel here.
    ['google', 'display', 'other'],
    ['facebook', 'banner', 'other'],
    ['google', 'video', 'other'],
    ['youtube', 'cpc', 'other'],
    ['youtube', 'referral', 'other'],
    ['google', 'cpm', 'paid_search'], // cpm is a paid medium first
    ['news.example', 'app', 'referral'],
    ['e-mail', 'referral', 'referral'], // Referral comes before Email
    // Brands in any country, not hosts that merely start with their name.
    ['google.co.uk', 'referral', 'organic_search'],
    ['google.github.io', 'referral', 'referral'],
    // A search brand's other hosts, by GA4's source categories.
    ['mail.google.com', 'referral', 'organic_search'],
    ['news.google.com', 'cpc', 'paid_search'],
    ['sites.google.com', 'referral', 'organic_social'],
    ['docs.google.com', 'referral', 'referral'],
    ['yahoo.example.io', 'referral', 'referral'],
    ['pinterest.mysite.de', 'referral', 'referral'],
    // Shopping sites are GA4's Organic and Paid Shopping, before Social, Search and Referral.
    ['amazon.de', 'referral', 'other'],
    ['ebay', 'cpc', 'other'],
  ])('%s / %s → %s', (source, medium, channel) => {
    expect(deriveChannel(source, medium, null)).toBe(channel);
  });

  it.each([
    ['google', 'cpc', 'cross-network', 'other'], // Cross-network comes before every paid rule
    ['google', 'cpc', 'Summer_Shopping', 'other'], // Paid Shopping comes before Paid Search
    ['google', 'cpc', 'workshop', 'paid_search'], // "shop" must start a word
    ['facebook', 'social', 'shop-launch', 'other'], // Organic Shopping before Organic Social
    ['google', 'cpc', 'brand', 'paid_search'],
  ])('%s / %s, campaign %s → %s', (source, medium, campaign, channel) => {
    expect(deriveChannel(source, medium, campaign)).toBe(channel);
  });
});
