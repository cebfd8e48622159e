/**
 * Node 20 has no global `WebSocket` (Node 22 has; Node 20 only behind
 * `--experimental-websocket`), and @libp2p/websockets 10 dials with
 * `new WebSocket(url)` (node_modules/@libp2p/websockets/src/index.ts,
 * `_connect`): without it every outgoing WebSocket dial fails with
 * "ReferenceError: WebSocket is not defined". Listening works, since the
 * listener uses the `ws` package.
 *
 * The relay dials when it links to other relays (`--peer`), so where the
 * global is missing this installs the `ws` package's client, which has the
 * browser API the transport uses (addEventListener, binaryType, send, close,
 * bufferedAmount). `ws` is already a dependency of @libp2p/websockets.
 *
 * One difference matters: `ws` is an EventEmitter, and an `error` it emits
 * while no listener is attached (the transport removes its own once the
 * socket is open; a reset later, or a 503 from an overloaded server) is thrown
 * as an uncaught exception, which ends the process. A browser WebSocket never
 * throws: it fires `error` and `close`. So the installed class always has a
 * listener; `addEventListener('error')` listeners and the `close` event still
 * see every failure.
 */
import { createRequire } from 'node:module'

if (typeof globalThis.WebSocket !== 'function') {
  const require = createRequire(import.meta.url)
  const { WebSocket } = require('ws')
  class BrowserLikeWebSocket extends WebSocket {
    constructor (...args: any[]) {
      super(...args)
      this.on('error', () => {})
    }
  }
  Object.defineProperty(globalThis, 'WebSocket', {
    configurable: true,
    writable: true,
    value: BrowserLikeWebSocket
  })
}

export {}
