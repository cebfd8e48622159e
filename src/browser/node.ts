/**
 * A ready libp2p node for browsers: WebSockets to relays, circuit relay v2
 * for signalling and fallback, direct WebRTC between browsers, noise, yamux,
 * identify, ping, and optionally a room to find peers in.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { FaultTolerance } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { isPrivate } from '@libp2p/utils'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { WebSockets } from '@multiformats/multiaddr-matcher'
import { createLibp2p } from 'libp2p'
import { directUpgrade } from './direct-upgrade.js'
import { relayKeeper } from './relay-keeper.js'
import { relayRouting } from './relay-routing.js'
import { roomDiscovery } from './room-discovery.js'
import { rejoin } from './rejoin.js'
import { RelayAddressError } from './errors.js'
import type { DirectUpgrade } from './direct-upgrade.js'
import type { RelayKeeper } from './relay-keeper.js'
import type { RoomDiscovery } from './room-discovery.js'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey, PeerDiscovery } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * How often connections are pinged: a peer whose tab vanished without
 * closing its connections (a crash, a lost network) is noticed within this
 * plus `DEFAULT_PING_TIMEOUT` (js-libp2p's default interval of 10 s makes it
 * ~13 s or more).
 *
 * @default 3 s
 */
export const DEFAULT_PING_INTERVAL = 3_000

/**
 * The shortest a ping may take before the connection is given up (js-libp2p
 * adapts the timeout to measured round trips, between this and 10 s). A busy
 * page (ten tabs starting on two cores) can stall for over 2 s: a shorter
 * floor drops healthy connections, and a peer flaps out of `peers()` and
 * misses broadcasts meanwhile.
 *
 * @default 5 s
 */
export const DEFAULT_PING_TIMEOUT = 5_000

/** Ping streams one connection may have open each way (see the ping service below). */
const PING_STREAMS = 4

/** Inbound connections per second from one host (relayed ones all come from the relay's). */
const INBOUND_CONNECTION_THRESHOLD = 100

export interface BrowserNodeInit {
  /** Relay multiaddrs, each ending in `/p2p/<relay id>`. A reservation is kept on each. */
  relays: string[]
  /** Join a room: peers in the same room (on any of these relays, or relays linked to them) find and connect to each other. */
  room?: string
  /** STUN/TURN servers for peers behind NAT. @default none (LAN and loopback only) */
  iceServers?: RTCIceServer[]
  /**
   * Development only: allow dialing the configured relays over plain `ws://`
   * and on loopback or private addresses (browsers' libp2p refuses both by
   * default). Only the configured relays (and circuits through them) are let
   * through, not every address.
   *
   * @default false
   */
  allowInsecureRelays?: boolean
  /** Direct WebRTC connections between browsers. `false` keeps everything relayed. @default true */
  webrtc?: boolean
  /** The node's identity (see `loadIdentity` to keep one across reloads). @default a new key */
  privateKey?: PrivateKey
  /** @default 3 s */
  pingInterval?: number
  /** See `DEFAULT_PING_TIMEOUT`. */
  pingTimeout?: number
  /** Room announcement interval. @default 10 s */
  roomInterval?: number
}

export type BrowserServices = {
  identify: Identify
  ping: unknown
  relays: RelayKeeper
  rejoin: unknown
  direct: DirectUpgrade
  pubsub: unknown
  room?: RoomDiscovery
}

export type BrowserNode = Libp2p<BrowserServices>

/**
 * Create and start a browser node.
 *
 * ```ts
 * const node = await createBrowserNode({ relays: ['/dns4/relay.example.com/tcp/443/wss/p2p/12D3…'], room: 'lobby' })
 * const messenger = createMessenger(node, { protocol: '/chat/1.0.0', codec: json() })
 * ```
 */
export async function createBrowserNode (init: BrowserNodeInit): Promise<BrowserNode> {
  for (const relay of init.relays) {
    checkRelayAddress(relay, init.allowInsecureRelays === true)
  }
  const room = init.room != null ? roomDiscovery({ room: init.room, interval: init.roomInterval }) : undefined
  const useWebRTC = init.webrtc !== false
  const relayPrefixes = init.relays.map(r => r.split('/p2p/')[0])
  const allowed = (ma: Multiaddr): boolean => {
    const s = ma.toString()
    return relayPrefixes.some(p => s === p || s.startsWith(`${p}/`))
  }
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = room != null ? [room.discovery] : []
  const services: Record<string, (components: any) => unknown> = {
    identify: identify(),
    // js-libp2p's connection monitor aborts a connection on any ping error, and a
    // ping stream whose close is still under way (WebRTC data channels close
    // slowly on a busy page) counts against @libp2p/ping's limits of 1 outbound
    // and 2 inbound streams: the next heartbeat then fails on a healthy connection
    ping: ping({ maxOutboundStreams: PING_STREAMS, maxInboundStreams: 2 * PING_STREAMS }),
    relays: relayKeeper({ relays: init.relays }),
    // after a reload: connect again at once to the peers we had (they move their streams to us)
    rejoin: rejoin({ relays: init.relays }),
    direct: directUpgrade(),
    // pubsub-peer-discovery finds gossipsub under the name `pubsub`
    pubsub: gossipsub({ allowPublishToZeroTopicPeers: true })
  }
  if (room != null) {
    services.room = room.service
  }
  const node = await createLibp2p({
    privateKey: init.privateKey,
    addresses: {
      // one '/p2p-circuit' per relay: a reservation on each
      listen: [...init.relays.map(() => '/p2p-circuit'), ...(useWebRTC ? ['/webrtc'] : [])]
    },
    transports: [
      webSockets(),
      circuitRelayTransport(),
      ...(useWebRTC ? [webRTC({ rtcConfiguration: { iceServers: init.iceServers ?? [] } })] : [])
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // a relay that is down at start must not fail the node: the keeper redials it
    transportManager: { faultTolerance: FaultTolerance.NO_FATAL },
    connectionGater: init.allowInsecureRelays === true
      ? { denyDialMultiaddr: async (ma) => allowed(ma) ? false : (WebSockets.matches(ma) || isPrivate(ma) === true) }
      : undefined,
    connectionManager: {
      // every relayed connection comes from the relay's address: libp2p's default of 5
      // per second per host refuses peers when a room fills up at once
      inboundConnectionThreshold: INBOUND_CONNECTION_THRESHOLD
    },
    connectionMonitor: {
      pingInterval: init.pingInterval ?? DEFAULT_PING_INTERVAL,
      pingTimeout: { minTimeout: Math.max(init.pingTimeout ?? DEFAULT_PING_TIMEOUT, 1), maxTimeout: Math.max(init.pingTimeout ?? DEFAULT_PING_TIMEOUT, 10_000) }
    },
    peerDiscovery,
    // a peer known only by its id is dialed through the relays: no rooms needed
    peerRouters: [relayRouting({ relays: init.relays })],
    services: services as any
  })
  // a closing tab tells its peers at once rather than leaving them to time out on pings
  const onPageHide = (evt: Event): void => {
    if ((evt as PageTransitionEvent).persisted) {
      return
    }
    for (const conn of node.getConnections()) {
      conn.abort(new Error('The page was closed'))
    }
  }
  globalThis.addEventListener?.('pagehide', onPageHide)
  node.addEventListener('stop', () => { globalThis.removeEventListener?.('pagehide', onPageHide) }, { once: true })
  return node as unknown as BrowserNode
}

/**
 * Refuse, with a message that says what to do, a relay address the node
 * could never use: the browser's connection gater would drop every dial to it
 * silently, and the page would wait for a reservation that never comes.
 *
 * @throws RelayAddressError
 */
function checkRelayAddress (address: string, allowInsecure: boolean): void {
  let ma: Multiaddr
  try {
    ma = multiaddr(address)
  } catch (err: any) {
    throw new RelayAddressError(address, `Relay address ${JSON.stringify(address)} is not a multiaddr (${err.message}); it looks like /dns4/relay.example.com/tcp/443/wss/p2p/12D3…`)
  }
  const parts = ma.getComponents()
  if (parts.findLast(c => c.name === 'p2p') == null) {
    throw new RelayAddressError(address, `Relay address ${address} has no /p2p/<relay peer id>: the relay prints its full address when it starts`)
  }
  if (allowInsecure) {
    return
  }
  const host = parts[0]
  const local = host?.value === 'localhost' || isPrivate(ma) === true
  const plain = parts.some(c => c.name === 'ws') && !parts.some(c => c.name === 'tls' || c.name === 'wss')
  if (local || plain) {
    const what = local && plain ? 'plain ws:// to a local or private host' : local ? 'a local or private host' : 'plain ws:// (not wss://)'
    throw new RelayAddressError(address, `Relay address ${address} is ${what}, which browsers refuse by default. For development against a local relay pass allowInsecureRelays: true to createBrowserNode(); in production use wss:// on a public host name`)
  }
}
