/** ISO-8601 date-time that states its offset (`Z` or `±hh:mm`), so the instant is unambiguous. */
export const ISO_WITH_OFFSET =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

export const NO_CONTROL_CHARS = /^[^\p{Cc}]+$/u;
/** The same as an OpenAPI pattern: \p{Cc} is U+0000–U+001F and U+007F–U+009F, which not every tool reads. */
export const NO_CONTROL_CHARS_PATTERN = '^[^\\u0000-\\u001F\\u007F-\\u009F]+$';

/** An absolute http(s) URL's start, scheme in any case, as an OpenAPI pattern (the service also parses it). */
export const HTTP_URL_PATTERN = '^[Hh][Tt][Tt][Pp][Ss]?://';

/** GA4's event-name rule, so our event types map 1:1 to GA4 event names. */
export const GA4_EVENT_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
