/**
 * Marks the identities whose conversions' credit the statement's writes may change. It
 * expects CTEs `inserted` (user_id, visitor_id, occurred_at, is_bot) and `linked`
 * (visitor_id of each new link). A stored event changes its own identity's conversions
 * from its time on; a new link moves the visitor's anonymous events to another subject,
 * so all of them. Bots are no touchpoints in the rollup, but their links still count.
 */
export const MARK_FOR_ATTRIBUTION = `
  INSERT INTO attribution_marks (kind, identity, since)
  SELECT kind, identity, min(since) FROM (
    SELECT CASE WHEN user_id IS NULL THEN 'v' ELSE 'u' END AS kind,
           coalesce(user_id, visitor_id) AS identity, occurred_at AS since
    FROM inserted WHERE NOT is_bot
    UNION ALL
    SELECT 'v', visitor_id, '-infinity'::timestamptz FROM linked
  ) marks
  WHERE identity IS NOT NULL
  GROUP BY kind, identity`;
