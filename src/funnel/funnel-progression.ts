/**
 * Forward-only progression: a subject moves to a stage only when it lies ahead of its
 * current one (skipping allowed); a stage at or behind it changes nothing.
 */
export interface ProgressDecision {
  advanced: boolean;
  /** The stage index before this update; null when the subject had not entered the funnel. */
  previousIndex: number | null;
  /** The stage index after this update. */
  currentIndex: number;
}

export function decideProgress(currentIndex: number | null, targetIndex: number): ProgressDecision {
  if (currentIndex === null || targetIndex > currentIndex) {
    return { advanced: true, previousIndex: currentIndex, currentIndex: targetIndex };
  }
  return { advanced: false, previousIndex: currentIndex, currentIndex };
}

/** The furthest of two positions, for merging a visitor's progress into its user's. */
export function furthest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}
