/**
 * Visitor→user pairs this process has seen linked, so that a logged-in visitor's
 * events skip the linking transaction after the first one. Only an optimisation: a
 * miss (another replica linked them, or the pair was evicted) takes the slow path,
 * which is correct anyway. Bounded, oldest first out.
 */
export class KnownLinks {
  private readonly pairs = new Set<string>();

  constructor(private readonly capacity = 100_000) {}

  has(visitorId: string, userId: string): boolean {
    return this.pairs.has(key(visitorId, userId));
  }

  add(visitorId: string, userId: string): void {
    const pair = key(visitorId, userId);
    if (this.pairs.has(pair)) return;
    if (this.pairs.size >= this.capacity)
      this.pairs.delete(this.pairs.values().next().value as string);
    this.pairs.add(pair);
  }
}

function key(visitorId: string, userId: string): string {
  return `${visitorId.length}:${visitorId}${userId}`;
}
