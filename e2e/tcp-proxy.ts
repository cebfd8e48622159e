/**
 * A TCP forwarder between tabs and the relay, for tests that take one tab's
 * network away: `cut(label)` resets the open connections of that tab, as a
 * lost network does to a real socket (new ones the browser's own offline
 * emulation refuses). Every tab of a test goes through the same forwarder,
 * since a tab dials only the relay addresses it was given (its connection
 * gater refuses others, port included); connections are labelled with
 * `label` as they are accepted, so set it before opening each tab.
 *
 * Needed because a browser's own offline emulation does not always do that:
 * Firefox 153's (WebDriver BiDi `emulation.setNetworkConditions`, offline)
 * sets `navigator.onLine` to false and fails new requests, but an open
 * WebSocket keeps carrying data both ways.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export class TcpProxy {
  private server?: Server
  private readonly sockets = new Map<Socket, string>()
  /** the label given to connections accepted from now on */
  label = ''
  port = 0

  constructor (private readonly targetHost: string, private readonly targetPort: number) {}

  /** The relay's multiaddr `address` with its port replaced by this proxy's. */
  address (address: string): string {
    return address.replace(/\/tcp\/\d+\//, `/tcp/${this.port}/`)
  }

  async start (): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost)
      for (const s of [client, upstream]) {
        this.sockets.set(s, this.label)
        s.on('close', () => { this.sockets.delete(s) })
        s.on('error', () => { client.destroy(); upstream.destroy() })
      }
      client.pipe(upstream)
      upstream.pipe(client)
    })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => { resolve() })
    })
    const addr = server.address()
    this.port = typeof addr === 'object' && addr != null ? addr.port : 0
  }

  /** The network of the tab(s) labelled `label` goes: their open connections are reset; returns how many. */
  cut (label: string): number {
    let n = 0
    for (const [s, l] of this.sockets) {
      if (l !== label) continue
      s.resetAndDestroy()
      this.sockets.delete(s)
      n++
    }
    return n
  }

  async stop (): Promise<void> {
    for (const s of this.sockets.keys()) s.resetAndDestroy()
    this.sockets.clear()
    await new Promise<void>(resolve => { this.server?.close(() => { resolve() }) ?? resolve() })
  }
}
