import { setMaxListeners } from 'main-event'

/**
 * Timeouts as AbortSignals whose timers are always released, so `stop()` and
 * finished operations leave nothing running.
 */
export interface TimedSignal {
  readonly signal: AbortSignal
  /** Release the timer and the listener on the parent signal. */
  clear(): void
}

export function timedSignal (ms: number, parent?: AbortSignal, reason?: () => Error): TimedSignal {
  const controller = new AbortController()
  const timer = Number.isFinite(ms)
    ? setTimeout(() => { controller.abort(reason?.() ?? new DOMException('The operation timed out', 'TimeoutError')) }, ms)
    : undefined
  const onAbort = (): void => { controller.abort(parent?.reason) }
  if (parent != null) {
    if (parent.aborted) {
      controller.abort(parent.reason)
    } else {
      parent.addEventListener('abort', onAbort, { once: true })
    }
  }
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer)
      parent?.removeEventListener('abort', onAbort)
    }
  }
}

/**
 * The controller a component aborts on `stop()`. Every wait of the component
 * listens to its signal at once (one per dial, open or drain under way), so it
 * takes any number of listeners; each wait removes its own when it ends.
 */
export function stopController (): AbortController {
  const controller = new AbortController()
  setMaxListeners(Infinity, controller.signal)
  return controller
}
