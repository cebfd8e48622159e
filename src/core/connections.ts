/**
 * Which connection to a peer a stream should use: a direct connection beats a
 * relayed one, and an unlimited relayed connection beats a limited one
 * (circuit relay v2 limits time and bytes). Among equals the newest wins, since
 * an older duplicate is the one libp2p tends to prune.
 */
import { isSuspect } from './liveness.js'
import type { AbortOptions, Connection, PeerId } from '@libp2p/interface'

/** A dial returned a connection that cannot carry streams yet. */
class ConnectionNotReadyError extends Error {
  override name = 'ConnectionNotReadyError'
}

/** How a peer is reached right now, as shown to users. */
export type ConnectionKind = 'direct' | 'relayed'

/**
 * The RTCPeerConnection under a direct WebRTC connection, when it can be
 * reached. Neither libp2p nor @libp2p/webrtc types it: a libp2p `Connection`
 * keeps its multiaddr connection as `maConn` (libp2p 3.3.11) and
 * @libp2p/webrtc's keeps `peerConnection`; read defensively.
 */
export function peerConnectionOf (conn: Connection): RTCPeerConnection | undefined {
  const c = conn as any
  const pc = c.maConn?.peerConnection ?? c.muxer?.peerConnection
  return typeof pc?.connectionState === 'string' ? pc : undefined
}

/**
 * Whether streams can open on `conn` now. A direct WebRTC connection whose
 * ICE is not connected cannot: @libp2p/webrtc 6.0.33 hands the side that
 * answered a failed dial an open, "direct" connection whose RTCPeerConnection
 * is still connecting, and a stream opened there never negotiates. Nor can
 * an older connection to a peer that connected to us again, until it proves
 * alive (see liveness.ts).
 */
export function usable (conn: Connection): boolean {
  if (conn.status !== 'open' || isSuspect(conn)) {
    return false
  }
  const pc = peerConnectionOf(conn)
  return pc == null || pc.connectionState === 'connected'
}

/**
 * Call `fn` once `conn` is usable: now, or when its RTCPeerConnection
 * connects. Nothing is left behind if it never does (the connection fails,
 * closes, or `signal` aborts).
 */
export function whenUsable (conn: Connection, signal: AbortSignal, fn: () => void): void {
  if (usable(conn)) {
    fn()
    return
  }
  const pc = peerConnectionOf(conn)
  if (pc == null || conn.status !== 'open' || signal.aborted) {
    return
  }
  const onChange = (): void => {
    const state = pc.connectionState
    if (state === 'connected' || state === 'failed' || state === 'closed') {
      cleanup()
      if (state === 'connected' && conn.status === 'open') {
        fn()
      }
    }
  }
  const cleanup = (): void => {
    pc.removeEventListener('connectionstatechange', onChange)
    signal.removeEventListener('abort', cleanup)
  }
  pc.addEventListener('connectionstatechange', onChange)
  signal.addEventListener('abort', cleanup, { once: true })
}

/** Higher is better; 0 means unusable. */
export function connectionRank (conn: Connection): number {
  if (!usable(conn)) {
    return 0
  }
  if (conn.limits != null) {
    return 1
  }
  return conn.direct ? 3 : 2
}

/**
 * Whether streams should move from `current` to `candidate`: it is better,
 * or as good and newer (the peer reloaded or redialed: the old one is likely
 * dead, and libp2p prunes the older of two duplicates).
 */
export function supersedes (candidate: Connection, current: Connection): boolean {
  if (candidate === current) {
    return false
  }
  const rank = connectionRank(candidate)
  const was = connectionRank(current)
  return rank > was || (rank > 0 && rank === was && candidate.timeline.open > current.timeline.open)
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
      const conn = await node.dial(peer, { signal })
      if (usable(conn)) {
        return conn
      }
      // libp2p handed back a connection that cannot carry streams yet (see usable())
      throw new ConnectionNotReadyError(`The connection to ${peer.toString()} is not connected yet`)
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
