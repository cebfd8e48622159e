/**
 * Every connection of a node to a peer with its route, for the network lab's
 * diagnostics: the SDK's path reading (src/browser/path.ts) plus what a test
 * wants to see of each connection (its ICE state, direction, age).
 */
import { peerConnectionOf } from '../../src/core/connections.js'
import { pathOf, type DirectPath } from '../../src/browser/path.js'
import type { Connection } from '@libp2p/interface'

export type ConnectionPath =
  | { peer: string, route: 'direct', path?: DirectPath, connectionState?: string, direction: 'inbound' | 'outbound', openForMs: number }
  | { peer: string, route: 'relayed', relay: string }

/**
 * Every connection of `node` to `peer` (or to every peer but relays), with its route:
 * `relayed` (a circuit through the relay named) or `direct` with the ICE path.
 */
export async function connectionPaths (node: { getConnections: (peer?: any) => Connection[] }, peer?: string): Promise<ConnectionPath[]> {
  const out: ConnectionPath[] = []
  for (const conn of node.getConnections()) {
    const remote = conn.remotePeer.toString()
    if (peer != null && remote !== peer) continue
    const path = await pathOf(conn)
    if (path?.route === 'relayed') {
      out.push({ peer: remote, ...path })
      continue
    }
    const pc = peerConnectionOf(conn)
    if (pc == null) continue // a connection to a relay (WebSockets), not between browsers
    out.push({ peer: remote, route: 'direct', path, connectionState: pc.connectionState, direction: conn.direction, openForMs: Date.now() - conn.timeline.open })
  }
  return out
}
