/**
 * Which network path a peer is reached on: a relayed circuit (through which
 * relay), or direct WebRTC on a host, server-reflexive (through NATs, via
 * STUN) or TURN path, read from the browser's own ICE statistics.
 *
 * ```ts
 * const path = await connectionPath(node, peer)
 * // { route: 'direct', kind: 'srflx', local: { type: 'srflx', … }, remote: { … }, rttMs: 12.5 }
 * // or { route: 'relayed', relay: '/dns4/relay.example.com/tcp/443/wss/p2p/12D3…' }
 * ```
 *
 * How: `getStats()` of the connection's RTCPeerConnection → the `transport`
 * report's `selectedCandidatePairId` (Chromium; Firefox marks the pair
 * `selected: true` instead) → its local and remote candidates, whose
 * `candidateType` is `host`, `srflx`, `prflx` (a NAT mapping seen by the other
 * side) or `relay` (a TURN allocation).
 */
import { bestConnection, peerConnectionOf } from '../core/connections.js'
import type { Connection, PeerId } from '@libp2p/interface'

/** `host`: no NAT in the way (LAN, loopback); `srflx`: through NATs (STUN or peer-reflexive); `turn`: through a TURN server. */
export type DirectPathKind = 'host' | 'srflx' | 'turn'

/** One end of the ICE candidate pair in use. */
export interface CandidateInfo {
  /** `host`, `srflx`, `prflx` or `relay` */
  type: string
  protocol?: string
  address?: string
  port?: number
  /** For `relay` candidates: how this side reaches its TURN server (udp, tcp, tls). */
  relayProtocol?: string
}

/** A direct WebRTC path. */
export interface DirectPath {
  route: 'direct'
  kind: DirectPathKind
  local: CandidateInfo
  remote: CandidateInfo
  /** The pair's current round-trip time, in ms. */
  rttMs?: number
}

/** A circuit through a relay. */
export interface RelayedPath {
  route: 'relayed'
  /** The relay's multiaddr. */
  relay: string
}

export type PeerPath = DirectPath | RelayedPath

/** What `connectionPath` needs of a libp2p node. */
export interface PathNode {
  getConnections(peer?: PeerId): Connection[]
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

/**
 * Classify a selected candidate pair. A peer-reflexive (`prflx`) candidate is
 * an address learnt in a connectivity check: a NAT mapping, or a peer whose
 * host candidates were hidden behind an mDNS name. On loopback, or with the
 * same address at both ends (one machine), it can only be the latter, so such
 * a pair counts as `host`.
 */
export function pathKind (local: CandidateInfo, remote: CandidateInfo): DirectPathKind {
  if (local.type === 'relay' || remote.type === 'relay') {
    return 'turn'
  }
  if (local.type === 'host' && (remote.type === 'host' || (remote.type === 'prflx' && (isLoopback(remote.address) || (remote.address != null && remote.address === local.address))))) {
    return 'host'
  }
  return 'srflx'
}

function isLoopback (address?: string): boolean {
  return address != null && (address.startsWith('127.') || address === '::1')
}

/** The selected candidate pair of a peer connection, classified; undefined before ICE selected one. */
export async function peerConnectionPath (pc: RTCPeerConnection): Promise<DirectPath | undefined> {
  const stats = await pc.getStats()
  let pair: any
  stats.forEach((r: any) => {
    if (r.type === 'transport' && r.selectedCandidatePairId != null) {
      pair = stats.get(r.selectedCandidatePairId)
    }
  })
  if (pair == null) {
    stats.forEach((r: any) => {
      if (r.type === 'candidate-pair' && (r.selected === true || (r.nominated === true && r.state === 'succeeded'))) {
        pair ??= r
      }
    })
  }
  if (pair == null) {
    return undefined
  }
  const local = candidate(stats.get(pair.localCandidateId))
  const remote = candidate(stats.get(pair.remoteCandidateId))
  return {
    route: 'direct',
    kind: pathKind(local, remote),
    local,
    remote,
    rttMs: pair.currentRoundTripTime != null ? Math.round(pair.currentRoundTripTime * 10_000) / 10 : undefined
  }
}

/** The path of one libp2p connection: relayed, direct with its ICE path, or undefined for other transports or before ICE selected a pair. */
export async function pathOf (conn: Connection): Promise<PeerPath | undefined> {
  const addr = conn.remoteAddr.toString()
  if (addr.includes('/p2p-circuit') && !addr.includes('/webrtc')) {
    return { route: 'relayed', relay: addr.split('/p2p-circuit')[0] }
  }
  const pc = peerConnectionOf(conn)
  return pc != null ? await peerConnectionPath(pc) : undefined
}

/**
 * How `peer` is reached now, on the connection the messenger uses (the best
 * usable one); undefined when not connected (or not yet known for a direct
 * connection whose ICE has not selected a pair).
 */
export async function connectionPath (node: PathNode, peer: PeerId): Promise<PeerPath | undefined> {
  const conn = bestConnection(node.getConnections(peer))
  return conn != null ? await pathOf(conn) : undefined
}
