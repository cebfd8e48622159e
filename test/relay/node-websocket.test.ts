/**
 * The WebSocket the relay (and Node tests) install where Node has none: a
 * failure is an `error` and a `close` event, never an uncaught exception that
 * ends the process (as the `ws` package's own class does with no listener).
 */
import '../../relay/node-websocket.js'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { describe, it, expect } from 'vitest'
import type { AddressInfo } from 'node:net'

describe('the Node WebSocket', () => {
  it('an overloaded server (503) and a reset after open end in close events, with nothing thrown', async () => {
    const server = createServer((req, res) => { res.writeHead(503).end() })
    // upgrades: answer 503 to the first, accept-then-reset the second
    let n = 0
    server.on('upgrade', (req, socket) => {
      if (n++ === 0) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\n\r\n')
      } else {
        socket.destroy()
      }
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      for (let i = 0; i < 2; i++) {
        const ws = new globalThis.WebSocket(url)
        const closed = new Promise<void>(resolve => { ws.addEventListener('close', () => { resolve() }) })
        await closed
        expect(ws.readyState).toBe(3)
      }
    } finally {
      server.close()
    }
  })
})
