import { classifyDatabaseError } from '../common/http/database-errors';
import { rootCause, SqlState, sqlState } from '../common/sql-state';

/**
 * A deadlock or serialization failure rolls the whole transaction back, so running it
 * again is safe and almost always wins: two paths that lock a subject and write its
 * links in different orders (a first-link event and a funnel move with both ids) can
 * meet that way. So does an event that reached the default partition of events just as
 * its month's partition was attached (see isRoutedBeforeAttach).
 */
export async function retryOnConflict<T>(work: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const again = classifyDatabaseError(error) === 'conflict' || isRoutedBeforeAttach(error);
      if (attempt >= attempts || !again) throw error;
    }
  }
}

/**
 * A row routed to the default partition of events while a month's partition was being
 * attached over it (StrayEventsRepository.finishMove): the insert waited for the
 * attach and then failed its new bound. Sent again, it lands in the month's partition.
 */
export function isRoutedBeforeAttach(error: unknown): boolean {
  return (
    error instanceof Error &&
    sqlState(error) === SqlState.checkViolation &&
    (rootCause(error) as { table?: unknown }).table === 'events_default'
  );
}
