/**
 * Simulated time and randomness for the fault simulator: every timer of the
 * SDK and of the simulated network runs on a fake clock (@sinonjs/fake-timers),
 * and `Math.random` (the SDK's backoff jitter) comes from the scenario's seed,
 * so a seed replays a scenario exactly.
 */
import FakeTimers from '@sinonjs/fake-timers'

export interface SimClock {
  /** Run timers and microtasks for `ms` of simulated time. */
  advance(ms: number): Promise<void>
  /** Timers still pending (the SDK's and the network's). */
  pending(): number
  now(): number
  uninstall(): void
}

/** A small, fast, seedable PRNG (mulberry32). */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function installClock (seed: number): SimClock {
  const clock = FakeTimers.withGlobal(globalThis).install({
    now: 1_700_000_000_000,
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
    loopLimit: 10_000_000
  })
  const random = Math.random
  Math.random = prng(seed)
  return {
    async advance (ms) { await clock.tickAsync(ms) },
    pending: () => clock.countTimers(),
    now: () => clock.now,
    uninstall () {
      Math.random = random
      clock.uninstall()
    }
  }
}
