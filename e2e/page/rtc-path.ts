/**
 * Which network path a direct (WebRTC) libp2p connection is on, read in the
 * page from the browser's own ICE statistics. Test-only for now; written to
 * move into the SDK as an API unchanged.
 *
 * How the RTCPeerConnection is reached: @libp2p/webrtc 6.0.33 does not expose
 * it, but a libp2p `Connection` keeps its multiaddr connection as `maConn`
 * (libp2p 3.3.11, connection.js), and @libp2p/webrtc's multiaddr connection
 * keeps the peer connection as `peerConnection`
 * (rtcpeerconnection-to-conn.js); so does its muxer (`muxer.peerConnection`,
 * muxer.js). Both are plain fields, not part of any typed API: this reads
 * them defensively and returns undefined when they are not there. No init
 * script is needed (unlike wrapping `RTCPeerConnection`, which must happen
 * before @libp2p/webrtc's module loads).
 *
 * How the path is read: `getStats()` → the `transport` report's
 * `selectedCandidatePairId` (Chromium; Firefox marks the pair `selected:
 * true` instead, also handled) → the `candidate-pair` → its
 * `local-candidate` and `remote-candidate`, whose `candidateType` is `host`,
 * `srflx` (address learnt from STUN), `prflx` (address learnt from a
 * connectivity check: a NAT mapping seen by the other side) or `relay` (a TURN
 * allocation).
 */
import type { Connection } from '@libp2p/interface'

/** `host`: no NAT in the way (LAN, loopback); `srflx`: through NATs (STUN or peer-reflexive); `turn`: through a TURN server. */
export type DirectPathKind = 'host' | 'srflx' | 'turn'

export interface CandidateInfo {
  type: string
  protocol?: string
  address?: string
  port?: number
  /** for `relay` candidates: how this side reaches its TURN server (udp, tcp, tls) */
  relayProtocol?: string
}

export interface DirectPath {
  kind: DirectPathKind
  local: CandidateInfo
  remote: CandidateInfo
  /** the pair's current round-trip time, ms */
  rttMs?: number
  bytesSent?: number
  bytesReceived?: number
}

/** The RTCPeerConnection under a direct WebRTC libp2p connection, if it can be reached. */
export function peerConnectionOf (connection: Connection): RTCPeerConnection | undefined {
  const c = connection as any
  const pc = c.maConn?.peerConnection ?? c.muxer?.peerConnection
  return typeof pc?.getStats === 'function' ? pc as RTCPeerConnection : undefined
}

function candidate (report: any): CandidateInfo {
  return {
    type: report?.candidateType ?? 'unknown',
    protocol: report?.protocol,
    address: report?.address ?? report?.ip,
    port: report?.port,
    relayProtocol: report?.relayProtocol
  }
}

/** Classify a selected candidate pair. */
export function pathKind (local: CandidateInfo, remote: CandidateInfo): DirectPathKind {
  if (local.type === 'relay' || remote.type === 'relay') return 'turn'
  if (local.type === 'host' && remote.type === 'host') return 'host'
  return 'srflx'
}

/** The selected candidate pair of a peer connection, classified; undefined before ICE selected one. */
export async function peerConnectionPath (pc: RTCPeerConnection): Promise<DirectPath | undefined> {
  const stats = await pc.getStats()
  let pair: any
  stats.forEach((r: any) => {
    if (r.type === 'transport' && r.selectedCandidatePairId != null) pair = stats.get(r.selectedCandidatePairId)
  })
  if (pair == null) {
    stats.forEach((r: any) => {
      if (r.type === 'candidate-pair' && (r.selected === true || (r.nominated === true && r.state === 'succeeded'))) pair ??= r
    })
  }
  if (pair == null) return undefined
  const local = candidate(stats.get(pair.localCandidateId))
  const remote = candidate(stats.get(pair.remoteCandidateId))
  return {
    kind: pathKind(local, remote),
    local,
    remote,
    rttMs: pair.currentRoundTripTime != null ? Math.round(pair.currentRoundTripTime * 1000 * 10) / 10 : undefined,
    bytesSent: pair.bytesSent,
    bytesReceived: pair.bytesReceived
  }
}

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
    const addr = conn.remoteAddr.toString()
    if (addr.includes('/p2p-circuit') && !addr.includes('/webrtc')) {
      out.push({ peer: remote, route: 'relayed', relay: addr.split('/p2p-circuit')[0] })
      continue
    }
    const pc = peerConnectionOf(conn)
    if (pc == null) continue // a connection to a relay (WebSockets), not between browsers
    out.push({ peer: remote, route: 'direct', path: await peerConnectionPath(pc), connectionState: pc.connectionState, direction: conn.direction, openForMs: Date.now() - conn.timeline.open })
  }
  return out
}
