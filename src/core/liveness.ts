/**
 * A peer that connects to us again while we still hold an older connection
 * to it has lost that older one: it reloaded, crashed or changed networks.
 * Our side of a dead WebRTC connection stays "open" until the connection
 * monitor's pings fail (3–8 s in browsers), and streams written there vanish.
 *
 * So when a peer opens a new connection to us, its older connections become
 * suspect at once: lanes no longer use them (see `usable()` in
 * connections.ts), and each is probed with a protocol negotiation, which any
 * live libp2p node answers. One that answers is trusted again; one that does
 * not answer within `PROBE_TIMEOUT` is aborted. A new direct connection is
 * the peer upgrading a relayed one (which it keeps): it makes only older
 * direct connections suspect.
 */
import { timedSignal } from '../util/signals.js'
import type { Connection, Logger } from '@libp2p/interface'

/**
 * How long a suspect connection has to answer a probe before it is aborted.
 * Lanes do not wait for it (they use the newer connection); it only must not
 * take down a healthy connection of a busy page (as the ping timeout floor).
 *
 * @default 5 s
 */
export const PROBE_TIMEOUT = 5_000

/**
 * The probe only needs an answer to its negotiation: identify, which every
 * libp2p node runs, also on limited (relayed) connections.
 */
const PROBE_PROTOCOL = '/ipfs/id/1.0.0'

const suspects = new WeakSet<Connection>()

/**
 * `suspect` and `cleared` events (the connection is `detail`), for
 * diagnostics and the fault simulator.
 */
export const livenessEvents = new EventTarget()

function note (type: 'suspect' | 'cleared', conn: Connection): void {
  livenessEvents.dispatchEvent(new CustomEvent(type, { detail: conn }))
}

/** Whether `conn` is being probed (not to be used for new streams meanwhile). */
export function isSuspect (conn: Connection): boolean {
  return suspects.has(conn)
}

export interface LivenessNode {
  getConnections(peer?: Connection['remotePeer']): Connection[]
}

/**
 * `conn` just opened: if the peer dialed us while we hold older connections
 * to it, suspect and probe them. `cleared` is called for each one that
 * answers (lanes may move back to it). Returns how many became suspect.
 */
export function checkOlderConnections (node: LivenessNode, conn: Connection, signal: AbortSignal, cleared: (conn: Connection) => void, log?: Logger): number {
  if (conn.direction !== 'inbound') {
    return 0
  }
  let n = 0
  for (const old of node.getConnections(conn.remotePeer)) {
    if (old === conn || old.status !== 'open' || old.timeline.open >= conn.timeline.open || suspects.has(old) || (conn.direct && !old.direct)) {
      continue
    }
    suspects.add(old)
    note('suspect', old)
    log?.('%p connected again: probing its older %s connection', conn.remotePeer, old.direct ? 'direct' : 'relayed')
    n++
    probe(old, signal, cleared, log)
  }
  return n
}

function probe (conn: Connection, parent: AbortSignal, cleared: (conn: Connection) => void, log?: Logger): void {
  const timed = timedSignal(PROBE_TIMEOUT, parent)
  conn.newStream(PROBE_PROTOCOL, { signal: timed.signal, runOnLimitedConnection: true })
    .then((stream) => {
      stream.abort(new Error('liveness probe'))
      return true
    }, () => !timed.signal.aborted)
    .then((alive) => {
      if (suspects.delete(conn)) {
        note('cleared', conn)
      }
      if (parent.aborted) {
        return
      }
      if (alive) {
        // it answered (with the protocol, "not supported", a reset or a local limit): alive
        cleared(conn)
      } else if (conn.status === 'open') {
        log?.('%p: the older connection did not answer in %d ms, closing it', conn.remotePeer, PROBE_TIMEOUT)
        conn.abort(new Error('No answer on this connection since the peer connected again'))
      }
    })
    .finally(() => { timed.clear() })
}
