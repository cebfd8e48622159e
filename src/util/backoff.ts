/**
 * Exponential backoff with jitter, so retries after a failure never form a hot
 * loop and many peers retrying at once spread out.
 */
export class Backoff {
  private attempts = 0

  constructor (private readonly min: number, private readonly max: number) {}

  /** Failures since the last reset. */
  get failures (): number {
    return this.attempts
  }

  /** Delay before the next attempt, in ms (half fixed, half random). */
  next (): number {
    const ceiling = Math.min(this.max, this.min * 2 ** Math.min(this.attempts, 30))
    this.attempts++
    return ceiling / 2 + Math.random() * ceiling / 2
  }

  reset (): void {
    this.attempts = 0
  }
}
