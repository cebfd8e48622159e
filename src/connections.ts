/**
 * Which connection to a peer a stream should use: a direct connection beats a
 * relayed one, and an unlimited relayed connection beats a limited one
 * (circuit relay v2 limits time and bytes). Among equals the newest wins, since
 * an older duplicate is the one libp2p tends to prune.
 */
import type { Connection } from '@libp2p/interface'

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
