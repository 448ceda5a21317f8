/**
 * Times of the events of the last `windowMs`, oldest first, in a growable ring buffer. Events are
 * pushed in time order, so dropping expired ones and counting cost O(1) amortised on the hot path.
 */
export class TimeWindowLog {
  private times = new Float64Array(64);
  private head = 0;
  private count = 0;

  public constructor(public readonly windowMs: number) {}

  /** Events within the window ending at `now`. */
  public size(now: number): number {
    this.evict(now);
    return this.count;
  }

  /** The `index`-th kept event, 0 being the oldest; call {@link TimeWindowLog.size} first. */
  public at(index: number): number {
    return this.times[(this.head + index) % this.times.length] as number;
  }

  public push(time: number): void {
    if (this.count === this.times.length) this.grow();
    this.times[(this.head + this.count) % this.times.length] = time;
    this.count++;
  }

  private evict(now: number): void {
    const capacity = this.times.length;
    while (this.count > 0 && (this.times[this.head] as number) <= now - this.windowMs) {
      this.head = (this.head + 1) % capacity;
      this.count--;
    }
  }

  private grow(): void {
    const grown = new Float64Array(this.times.length * 2);
    for (let index = 0; index < this.count; index++) grown[index] = this.at(index);
    this.times = grown;
    this.head = 0;
  }
}
