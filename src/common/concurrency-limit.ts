/** Runs at most `limit` tasks at once; the others wait their turn, in the order they came. */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // A task that ends hands its place to the next one waiting, if any.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
