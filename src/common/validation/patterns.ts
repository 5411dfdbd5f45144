/** ISO-8601 date-time that states its offset (`Z` or `±hh:mm`), so the instant is unambiguous. */
export const ISO_WITH_OFFSET =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Text that prints: no control characters (U+0000–U+001F, U+007F–U+009F), and none of
 * the characters that are invisible on their own yet make two ids differ (soft hyphen,
 * combining grapheme joiner, Hangul and Khmer fillers, the Mongolian vowel separator,
 * zero-width and directional marks, line and paragraph separators, bidi embeddings and
 * isolates, word joiners, the byte-order mark, interlinear annotation marks). Variation
 * selectors and tag characters stay allowed: they belong to what they follow (❤️, a
 * flag, an ideographic variant). One source for the check and the OpenAPI pattern, so
 * both say the same: only code points of the BMP, which a validator reads alike with
 * or without the `u` flag.
 */
export const PRINTABLE_PATTERN =
  '^[^\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u034F\\u061C\\u115F\\u1160\\u17B4\\u17B5\\u180E' +
  '\\u200B-\\u200F\\u2028-\\u202E\\u2060-\\u206F\\u3164\\uFEFF\\uFFA0\\uFFF0-\\uFFFB]+$';
export const PRINTABLE = new RegExp(PRINTABLE_PATTERN);

/** An absolute http(s) URL's start, scheme in any case, as an OpenAPI pattern (the service also parses it). */
export const HTTP_URL_PATTERN = '^[Hh][Tt][Tt][Pp][Ss]?://';

/** GA4's event-name rule, so our event types map 1:1 to GA4 event names. */
export const GA4_EVENT_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
