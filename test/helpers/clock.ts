/**
 * Simulated time for unit tests of timer-driven code: `useFakeClock()`
 * installs the simulator's fake clock (see test/sim/clock.ts: setTimeout,
 * setInterval and Date are fake, Math.random is seeded) before each test of
 * the file and removes it after, so backoff, grace periods and intervals run
 * in simulated time, fast and the same on every run.
 */
import { afterEach, beforeEach } from 'vitest'
import { installClock, type SimClock } from '../sim/clock.js'

export interface TestClock {
  /** Run timers and microtasks for `ms` of simulated time. */
  advance(ms: number): Promise<void>
  /** Let pending promise callbacks run without moving time. */
  flush(): Promise<void>
  /** Timers still pending. */
  pending(): number
  /** Simulated `Date.now()`. */
  now(): number
}

/** Install a fake clock around every test of the calling file. */
export function useFakeClock (seed = 1): TestClock {
  let clock: SimClock | undefined
  beforeEach(() => { clock = installClock(seed) })
  afterEach(() => {
    clock?.uninstall()
    clock = undefined
  })
  const current = (): SimClock => {
    if (clock == null) {
      throw new Error('useFakeClock: no clock outside a test')
    }
    return clock
  }
  return {
    advance: async (ms) => { await current().advance(ms) },
    flush: async () => { await current().advance(0) },
    pending: () => current().pending(),
    now: () => current().now()
  }
}
