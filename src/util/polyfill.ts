/**
 * Node 20 lacks `Promise.withResolvers` (Node 22 and every current browser
 * have it), and js-libp2p v3 calls it at run time (stream `onDrain`, it-queue).
 * This adds the standard method only where it is missing.
 */
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T> (this: PromiseConstructor) {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new this<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}
export {}
