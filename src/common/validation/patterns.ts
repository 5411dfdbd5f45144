/** ISO-8601 date-time that states its offset (`Z` or `±hh:mm`), so the instant is unambiguous. */
export const ISO_WITH_OFFSET =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Text that prints: no control characters (U+0000–U+001F, U+007F–U+009F), and none of
 * the characters that are invisible yet make two ids differ (Unicode's default-ignorable
 * code points: soft hyphen, combining grapheme joiner, Hangul and Khmer fillers, Mongolian
 * and other variation selectors, zero-width and directional marks, line and paragraph
 * separators, bidi embeddings and isolates, word joiners, the byte-order mark, interlinear
 * annotation marks, musical formatting symbols, tag characters). One source for the check
 * and the OpenAPI pattern, so both say the same: written without the `u` flag, which JSON
 * Schema's patterns lack, so the astral ones are matched by their surrogate pairs.
 */
const INVISIBLE_BMP =
  '\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u034F\\u061C\\u115F\\u1160\\u17B4\\u17B5\\u180B-\\u180F' +
  '\\u200B-\\u200F\\u2028-\\u202E\\u2060-\\u206F\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0\\uFFF0-\\uFFFB';
/** U+1D173–U+1D17A: \uD834 then \uDD73–\uDD7A. Every code point after \uDB40 (U+E0000–U+E03FF) is one. */
const INVISIBLE_ASTRAL = '\\uD834(?![\\uDD73-\\uDD7A])';
export const PRINTABLE_PATTERN = `^(?:[^${INVISIBLE_BMP}\\uD834\\uDB40]|${INVISIBLE_ASTRAL})+$`;
export const PRINTABLE = new RegExp(PRINTABLE_PATTERN);

/** An absolute http(s) URL's start, scheme in any case, as an OpenAPI pattern (the service also parses it). */
export const HTTP_URL_PATTERN = '^[Hh][Tt][Tt][Pp][Ss]?://';

/** GA4's event-name rule, so our event types map 1:1 to GA4 event names. */
export const GA4_EVENT_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
