/**
 * Visitor→user links this process has seen, so that a logged-in visitor's events skip
 * the linking transaction after the first one, and so that the group commit can tell a
 * linked visitor's own events apart from another person's. Only an optimisation: a miss
 * (another replica linked them, or the entry was evicted) takes the slow path or the
 * one-by-one retry, which are correct anyway. Bounded, oldest first out.
 */
export class KnownLinks {
  private readonly pairs = new Set<string>();
  /** Each visitor's newest user when this process last linked it: the user its visitor-only events move. */
  private readonly newestUsers = new Map<string, string>();

  constructor(private readonly capacity = 100_000) {}

  has(visitorId: string, userId: string): boolean {
    return this.pairs.has(key(visitorId, userId));
  }

  /** The user this process last linked the visitor to, if it did. */
  newestUserOf(visitorId: string): string | undefined {
    return this.newestUsers.get(visitorId);
  }

  /** `newestUserId`: the user the visitor's newest link names, as the database answered. */
  add(visitorId: string, userId: string, newestUserId: string | null): void {
    const pair = key(visitorId, userId);
    if (!this.pairs.has(pair)) {
      makeRoom(this.pairs, this.capacity);
      this.pairs.add(pair);
    }
    if (newestUserId === null) return;
    this.newestUsers.delete(visitorId);
    makeRoom(this.newestUsers, this.capacity);
    this.newestUsers.set(visitorId, newestUserId);
  }
}

function makeRoom(entries: Set<string> | Map<string, string>, capacity: number): void {
  if (entries.size >= capacity) entries.delete(entries.keys().next().value as string);
}

function key(visitorId: string, userId: string): string {
  return `${visitorId.length}:${visitorId}${userId}`;
}
