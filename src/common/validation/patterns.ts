/** ISO-8601 date-time that states its offset (`Z` or `±hh:mm`), so the instant is unambiguous. */
export const ISO_WITH_OFFSET =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

export const NO_CONTROL_CHARS = /^[^\p{Cc}]+$/u;

/** GA4's event-name rule, so our event types map 1:1 to GA4 event names. */
export const GA4_EVENT_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
