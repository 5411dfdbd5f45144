import { classifyDatabaseError } from '../common/http/database-errors';

/**
 * A deadlock or serialization failure rolls the whole transaction back, so running it
 * again is safe and almost always wins: two paths that lock a subject and write its
 * links in different orders (a first-link event and a funnel move with both ids) can
 * meet that way.
 */
export async function retryOnConflict<T>(work: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || classifyDatabaseError(error) !== 'conflict') throw error;
    }
  }
}
