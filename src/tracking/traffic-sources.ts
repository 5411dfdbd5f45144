/**
 * Hosts and `utm_source` names of known search engines, social and video sites, after
 * GA4's source categories (the lists behind its default channel grouping).
 */
export type SourceCategory = 'search' | 'social' | 'video' | 'shopping';

interface KnownSource {
  name: string;
  category: SourceCategory;
  /** Matches a lower-cased hostname. */
  host: RegExp;
  /** Other spellings seen in `utm_source`. */
  aliases?: string[];
}

// The brand's own domains in any country: google.com, google.de, google.co.uk, google.com.br,
// but not google.github.io or google.blog.com, which belong to someone else.
const IN_ANY_COUNTRY =
  '\\.(com|net|org|cat|[a-z]{2}|(co|com|net|org|ac|ne|or|gob|gov|edu)\\.[a-z]{2})$';
const anyTld = (domain: string) => new RegExp(`(^|\\.)${domain}${IN_ANY_COUNTRY}`);
// A search engine's search pages only: its bare domain, www and search hosts
// (uk.search.yahoo.com). A referrer on another of its hosts (mail.google.com, or
// accounts.google.com after an OAuth sign-in) keeps that host for a source, as in GA4.
const searchPages = (domain: string) =>
  new RegExp(`^((www|([a-z]+\\.)?search)\\.)?${domain}${IN_ANY_COUNTRY}`);

/**
 * The other hosts of those brands that GA4's source-category list names, with its
 * category: they decide the channel (mail.google.com is Organic Search in GA4, though
 * its source is the host and its medium referral). Hosts it does not list
 * (accounts.google.com, docs.google.com) are plain referrals.
 */
const BRAND_PRODUCT_HOSTS = new Map<string, SourceCategory>([
  ['mail.google.com', 'search'],
  ['news.google.com', 'search'],
  ['cse.google.com', 'search'],
  ['groups.google.com', 'social'],
  ['sites.google.com', 'social'],
  ['messages.google.com', 'social'],
  ['plus.google.com', 'social'],
  ['plus.url.google.com', 'social'],
  ['mail.yandex.ru', 'search'],
  ['zen.yandex.ru', 'search'],
  ['webmaster.yandex.ru', 'search'],
  ['answers.yahoo.com', 'social'],
  ['bookmarks.yahoo.com', 'social'],
  ['bookmarks.yahoo.co.jp', 'social'],
  ['blog.yahoo.co.jp', 'social'],
  ['chiebukuro.yahoo.co.jp', 'social'],
  ['pulse.yahoo.com', 'social'],
  ['shopping.yahoo.com', 'shopping'],
  ['shopping.yahoo.co.jp', 'shopping'],
  ['store.shopping.yahoo.co.jp', 'shopping'],
  ['order.shopping.yahoo.co.jp', 'shopping'],
]);
const exactly = (...domains: string[]) =>
  new RegExp(`(^|\\.)(${domains.map((d) => d.replace(/\./g, '\\.')).join('|')})$`);

const KNOWN_SOURCES: KnownSource[] = [
  { name: 'google', category: 'search', host: searchPages('google') },
  { name: 'bing', category: 'search', host: exactly('bing.com') },
  { name: 'yahoo', category: 'search', host: searchPages('yahoo') },
  { name: 'duckduckgo', category: 'search', host: exactly('duckduckgo.com') },
  { name: 'baidu', category: 'search', host: exactly('baidu.com') },
  { name: 'yandex', category: 'search', host: searchPages('yandex') },
  { name: 'ecosia', category: 'search', host: exactly('ecosia.org') },
  { name: 'ask', category: 'search', host: exactly('ask.com') },
  { name: 'naver', category: 'search', host: exactly('naver.com') },
  { name: 'seznam', category: 'search', host: exactly('seznam.cz') },
  { name: 'qwant', category: 'search', host: exactly('qwant.com') },
  { name: 'startpage', category: 'search', host: exactly('startpage.com') },
  { name: 'brave', category: 'search', host: exactly('search.brave.com') },
  { name: 'aol', category: 'search', host: exactly('search.aol.com') },
  { name: 'sogou', category: 'search', host: exactly('sogou.com') },
  {
    name: 'facebook',
    category: 'social',
    host: exactly('facebook.com', 'fb.com', 'fb.me', 'messenger.com'),
    aliases: ['fb'],
  },
  { name: 'instagram', category: 'social', host: exactly('instagram.com'), aliases: ['ig'] },
  {
    name: 'twitter',
    category: 'social',
    host: exactly('twitter.com', 't.co', 'x.com'),
    aliases: ['x', 't.co'],
  },
  { name: 'linkedin', category: 'social', host: exactly('linkedin.com', 'lnkd.in') },
  { name: 'pinterest', category: 'social', host: anyTld('pinterest') },
  { name: 'reddit', category: 'social', host: exactly('reddit.com', 'redd.it') },
  { name: 'tiktok', category: 'social', host: exactly('tiktok.com') },
  { name: 'snapchat', category: 'social', host: exactly('snapchat.com') },
  { name: 'whatsapp', category: 'social', host: exactly('whatsapp.com', 'wa.me') },
  { name: 'telegram', category: 'social', host: exactly('telegram.org', 't.me') },
  { name: 'quora', category: 'social', host: exactly('quora.com') },
  { name: 'tumblr', category: 'social', host: exactly('tumblr.com') },
  { name: 'threads', category: 'social', host: exactly('threads.net') },
  { name: 'vk', category: 'social', host: exactly('vk.com') },
  { name: 'weibo', category: 'social', host: exactly('weibo.com') },
  { name: 'discord', category: 'social', host: exactly('discord.com', 'discord.gg') },
  { name: 'bluesky', category: 'social', host: exactly('bsky.app') },
  { name: 'mastodon', category: 'social', host: exactly('mastodon.social') },
  { name: 'youtube', category: 'video', host: exactly('youtube.com', 'youtu.be') },
  { name: 'vimeo', category: 'video', host: exactly('vimeo.com') },
  { name: 'dailymotion', category: 'video', host: exactly('dailymotion.com') },
  { name: 'twitch', category: 'video', host: exactly('twitch.tv') },
  { name: 'amazon', category: 'shopping', host: anyTld('amazon') },
  { name: 'ebay', category: 'shopping', host: anyTld('ebay') },
  { name: 'etsy', category: 'shopping', host: exactly('etsy.com') },
  { name: 'walmart', category: 'shopping', host: exactly('walmart.com') },
  { name: 'aliexpress', category: 'shopping', host: exactly('aliexpress.com', 'aliexpress.us') },
  { name: 'alibaba', category: 'shopping', host: exactly('alibaba.com') },
  { name: 'shopify', category: 'shopping', host: exactly('shopify.com') },
  { name: 'mercadolibre', category: 'shopping', host: anyTld('mercadolibre') },
  { name: 'rakuten', category: 'shopping', host: anyTld('rakuten') },
];

const BY_NAME = new Map<string, KnownSource>();
for (const source of KNOWN_SOURCES) {
  for (const name of [source.name, ...(source.aliases ?? [])]) BY_NAME.set(name, source);
}

/** The known source a referrer host belongs to, if any. */
export function knownSourceForHost(hostname: string): KnownSource | undefined {
  const host = hostname.toLowerCase();
  return KNOWN_SOURCES.find((source) => source.host.test(host));
}

/** The category of a `utm_source` value or a host name, if it is a known one. */
export function sourceCategory(source: string): SourceCategory | undefined {
  return (
    BY_NAME.get(source)?.category ??
    BRAND_PRODUCT_HOSTS.get(source) ??
    knownSourceForHost(source)?.category
  );
}
