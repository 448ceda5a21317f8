/**
 * Timestamps of the events of the last `windowMs`, oldest first, in a growable ring buffer: adding an
 * event and dropping expired ones cost O(1) amortised, so it can sit on every request's path.
 */
export class SlidingWindowLog {
  private times = new Float64Array(64);
  private head = 0;
  private count = 0;

  public constructor(public readonly windowMs: number) {}

  /** Events still inside the window ending at `now` (after {@link SlidingWindowLog.evict}). */
  public get size(): number {
    return this.count;
  }

  /** Drops the events at or before `now - windowMs`: what remains happened in the last `windowMs`. */
  public evict(now: number): void {
    const capacity = this.times.length;
    while (this.count > 0 && (this.times[this.head] as number) <= now - this.windowMs) {
      this.head = (this.head + 1) % capacity;
      this.count--;
    }
  }

  public push(time: number): void {
    if (this.count === this.times.length) this.grow();
    this.times[(this.head + this.count) % this.times.length] = time;
    this.count++;
  }

  /** The `index`-th kept event, 0 being the oldest. */
  public at(index: number): number {
    return this.times[(this.head + index) % this.times.length] as number;
  }

  public clear(): void {
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    const grown = new Float64Array(this.times.length * 2);
    for (let index = 0; index < this.count; index++) grown[index] = this.at(index);
    this.times = grown;
    this.head = 0;
  }
}
