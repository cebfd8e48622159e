/**
 * Which connection to a peer a stream should use: a direct connection beats a
 * relayed one, and an unlimited relayed connection beats a limited one
 * (circuit relay v2 limits time and bytes). Among equals the newest wins, since
 * an older duplicate is the one libp2p tends to prune.
 */
import type { AbortOptions, Connection, PeerId } from '@libp2p/interface'

/** How a peer is reached right now, as shown to users. */
export type ConnectionKind = 'direct' | 'relayed'

/** Higher is better; 0 means unusable. */
export function connectionRank (conn: Connection): number {
  if (conn.status !== 'open') {
    return 0
  }
  if (conn.limits != null) {
    return 1
  }
  return conn.direct ? 3 : 2
}

export function bestConnection (conns: Connection[]): Connection | undefined {
  let best: Connection | undefined
  let bestRank = 0
  for (const conn of conns) {
    const rank = connectionRank(conn)
    if (rank > bestRank || (rank === bestRank && rank > 0 && best != null && conn.timeline.open > best.timeline.open)) {
      best = conn
      bestRank = rank
    }
  }
  return best
}

export function connectionKind (conn: Connection): ConnectionKind {
  return conn.direct ? 'direct' : 'relayed'
}

/** What `connectionTo` needs of a libp2p node. */
export interface Dialer {
  getConnections(peer?: PeerId): Connection[]
  dial(peer: PeerId, options?: AbortOptions): Promise<Connection>
}

/** Pause between dial attempts in `connectionTo`, doubled each time. */
const REDIAL_DELAY = 250

/**
 * The best open connection to `peer`, or a new one. A dial that fails before
 * `signal` aborts is tried again (up to `attempts` in all): js-libp2p gives up
 * a whole dial after its own `dialTimeout` when one address hangs (the
 * @libp2p/webrtc init-channel race), and a concurrent dial of the same peer
 * (which ours joins) may have failed for its own reasons. Often the failed
 * attempt left a usable (relayed) connection behind, which is taken at once.
 */
export async function connectionTo (node: Dialer, peer: PeerId, signal: AbortSignal, attempts = 3): Promise<Connection> {
  for (let attempt = 1; ; attempt++) {
    const open = bestConnection(node.getConnections(peer))
    if (open != null) {
      return open
    }
    try {
      return await node.dial(peer, { signal })
    } catch (err) {
      signal.throwIfAborted()
      const left = bestConnection(node.getConnections(peer))
      if (left != null) {
        return left
      }
      if (attempt >= attempts) {
        throw err
      }
    }
    await delay(REDIAL_DELAY * 2 ** (attempt - 1), signal)
  }
}

async function delay (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
