/**
 * @packageDocumentation
 *
 * The libp2p-messenger relay: a js-libp2p node that browsers reach over
 * WebSockets, that gives them circuit relay v2 reservations (so they get a
 * `/p2p-circuit` address and can reach each other, and upgrade to WebRTC),
 * and that forwards their room discovery messages (gossipsub) so peers in the
 * same room find each other.
 *
 * @example
 *
 * ```ts
 * import '../src/util/polyfill.js'
 * import { createRelay } from './server.js'
 *
 * const relay = await createRelay({ port: 0, keyFile: '.relay/relay-key' })
 * console.log(relay.multiaddrs.map(String))
 * await relay.stop()
 * ```
 */
import '../src/util/polyfill.js'
import './node-websocket.js'
import { isIPv4, isIPv6 } from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { defaultLogger } from '@libp2p/logger'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import {
  DEFAULT_ALLOW,
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_HOST,
  DEFAULT_INBOUND_CONNECTION_THRESHOLD,
  DEFAULT_MAX_CIRCUITS_PER_PEER,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS,
  DEFAULT_MAX_PUBSUB_BUFFER,
  DEFAULT_MAX_PUBSUB_MESSAGE_SIZE,
  DEFAULT_MAX_RESERVATIONS,
  DEFAULT_MAX_ROOMS,
  DEFAULT_MAX_ROOMS_PER_PEER,
  DEFAULT_PORT,
  DEFAULT_RELAYED_CONNECTION_DATA,
  DEFAULT_RELAYED_CONNECTION_DURATION,
  DEFAULT_RESERVATION_TTL,
  DEFAULT_ROOM_MESH_SIZE,
  MAX_TIMER,
  PING_MAX_INBOUND_STREAMS,
  PING_MAX_OUTBOUND_STREAMS,
  ROOM_SWEEP_INTERVAL,
  ROOM_UNSUBSCRIBE_BACKOFF,
  STOP_STREAMS_PER_HOP
} from './defaults.js'
import { createConnectionGater } from './gater.js'
import { startHealthEndpoint, type HealthEndpoint } from './health.js'
import { loadOrCreateKey } from './identity.js'
import { PeerLinks } from './peer-links.js'
import { RoomFollower } from './room-follower.js'
import { MAX_ROOM_TOPIC_LENGTH } from '../src/browser/rooms.js'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'

/** gossipsub charges each subscribed topic its length plus this (GossipsubTopicEntryOverhead) */
const TOPIC_ENTRY_OVERHEAD = 1024
const MAX_UINT64 = 2n ** 64n - 1n

/** TLS material for secure WebSockets. PEM strings or buffers. */
export interface RelayTlsOptions {
  cert: string | Buffer
  key: string | Buffer
}

/**
 * Options of {@link createRelay}. Every field is optional; the defaults, and
 * why they are what they are, are documented once, in `defaults.ts`.
 */
export interface RelayOptions {
  /** IP address to listen on (IPv4 or IPv6). @default {@link DEFAULT_HOST} */
  host?: string

  /** TCP port; 0 picks a free one. @default {@link DEFAULT_PORT} */
  port?: number

  /** The relay's identity. Wins over `keyFile`. */
  privateKey?: PrivateKey

  /**
   * File holding the relay's Ed25519 key; created (mode 0600) when missing.
   * Without this and without `privateKey` the relay gets a new identity on
   * every start.
   */
  keyFile?: string

  /**
   * Multiaddrs to announce instead of the listen addresses, e.g.
   * `/dns4/relay.example.com/tcp/443/wss` behind a proxy.
   */
  announce?: string[]

  /** Serve secure WebSockets (`/tls/ws`) instead of plain `/ws`. */
  tls?: RelayTlsOptions

  /** Circuit relay reservations held at once. @default {@link DEFAULT_MAX_RESERVATIONS} */
  maxReservations?: number

  /** Reservation lifetime in ms. @default {@link DEFAULT_RESERVATION_TTL} */
  reservationTtl?: number

  /** Time limit of one relayed connection in ms; 0 for none. @default {@link DEFAULT_RELAYED_CONNECTION_DURATION} */
  relayedConnectionDuration?: number

  /** Data limit of one relayed connection in bytes; 0 for none. @default {@link DEFAULT_RELAYED_CONNECTION_DATA} */
  relayedConnectionData?: number | bigint

  /** Relayed connections one peer may open through the relay at once. @default {@link DEFAULT_MAX_CIRCUITS_PER_PEER} */
  maxCircuitsPerPeer?: number

  /** Total connections. @default {@link DEFAULT_MAX_CONNECTIONS} */
  maxConnections?: number

  /** Open connections from one IP address; 0 for no limit. @default {@link DEFAULT_MAX_CONNECTIONS_PER_IP} */
  maxConnectionsPerIp?: number

  /** New connections per second per IP address. @default {@link DEFAULT_INBOUND_CONNECTION_THRESHOLD} */
  inboundConnectionThreshold?: number

  /** Inbound handshakes in progress at once, all addresses together. @default {@link DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS} */
  maxIncomingPendingConnections?: number

  /** Networks (CIDR, or a single address) exempt from the per-address limits. @default {@link DEFAULT_ALLOW} */
  allow?: string[]

  /**
   * Multiaddrs of other relays to connect to and stay connected with, so that
   * rooms span relays. Include `/p2p/<id>` so the relay knows the peer before
   * it connects.
   */
  peers?: string[]

  /** Rooms followed at once. @default {@link DEFAULT_MAX_ROOMS} */
  maxRooms?: number

  /** Room topics one peer may subscribe to. @default {@link DEFAULT_MAX_ROOMS_PER_PEER} */
  maxRoomsPerPeer?: number

  /** Room members a message is forwarded to directly. @default {@link DEFAULT_ROOM_MESH_SIZE} */
  roomMeshSize?: number

  /** Gossipsub heartbeat in ms. @default {@link DEFAULT_HEARTBEAT_INTERVAL} */
  heartbeatInterval?: number

  /**
   * Serve `GET /health` on this port (0 = any free port). No health server
   * when unset.
   */
  healthPort?: number

  /** Address of the health server. @default the relay's `host` */
  healthHost?: string

  /**
   * Where operator lines go (start, stop, links to other relays, the room
   * limit). Silent by default; the CLI passes `console.log`. Debug logs are a
   * separate matter: `DEBUG=libp2p-messenger:*` (see `relay/README.md`).
   */
  log?: (line: string) => void
}

/** What `GET /health` returns (and {@link Relay.status}). */
export interface RelayStatus {
  ok: boolean
  peerId: string
  /** open connections (browsers and relays) */
  connections: number
  /** circuit relay reservations held */
  reservations: number
  /** room topics the relay follows */
  topics: number
  /** linked relays (`peers`) connected right now */
  linkedRelays: number
}

export interface RelayServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  relay: CircuitRelayService
  pubsub: GossipSub
}

export interface Relay {
  /** the libp2p node */
  node: Libp2p<RelayServices>
  peerId: PeerId
  /** the addresses clients dial, each ending in `/p2p/<peerId>` */
  multiaddrs: Multiaddr[]
  /** URL of the health endpoint, when `healthPort` was given */
  healthUrl?: string
  /** room topics followed right now */
  rooms(): string[]
  status(): RelayStatus
  /** Stop everything. Safe to call more than once. */
  stop(): Promise<void>
}

/**
 * Start a relay. Resolves once it listens.
 */
export async function createRelay (options: RelayOptions = {}): Promise<Relay> {
  const log = options.log ?? (() => {})
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORT
  if (!isIPv4(host) && !isIPv6(host)) {
    throw new TypeError(`host must be an IP address, got ${host}`)
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`port must be an integer from 0 to 65535, got ${port}`)
  }

  let privateKey = options.privateKey
  if (privateKey == null && options.keyFile != null) {
    const loaded = await loadOrCreateKey(options.keyFile)
    privateKey = loaded.privateKey
    if (loaded.created) {
      log(`relay created a new identity in ${options.keyFile}`)
    }
    if (loaded.warning != null) {
      log(`relay warning: ${loaded.warning}`)
    }
  }
  privateKey ??= await generateKeyPair('Ed25519')

  const ipKind = isIPv6(host) ? 'ip6' : 'ip4'
  const listen = `/${ipKind}/${host}/tcp/${port}/${options.tls != null ? 'wss' : 'ws'}`
  const announce = (options.announce ?? []).map(a => multiaddr(a).toString())
  const peerAddrs = (options.peers ?? []).map(a => multiaddr(a))

  // the node's logger, made here so that the gater (created before the node) logs through it too
  const logger = defaultLogger()
  const gater = createConnectionGater({ logger }, {
    allow: options.allow ?? DEFAULT_ALLOW,
    maxConnectionsPerIp: options.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP,
    inboundConnectionThreshold: options.inboundConnectionThreshold ?? DEFAULT_INBOUND_CONNECTION_THRESHOLD
  })
  const maxCircuitsPerPeer = options.maxCircuitsPerPeer ?? DEFAULT_MAX_CIRCUITS_PER_PEER
  const roomMeshSize = options.roomMeshSize ?? DEFAULT_ROOM_MESH_SIZE
  const maxRoomsPerPeer = options.maxRoomsPerPeer ?? DEFAULT_MAX_ROOMS_PER_PEER

  const node = await createLibp2p({
    privateKey,
    logger,
    addresses: {
      listen: [listen],
      announce
    },
    transports: [
      webSockets(options.tls != null ? { https: { cert: options.tls.cert, key: options.tls.key } } : {})
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: gater,
    connectionManager: {
      maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      maxIncomingPendingConnections: options.maxIncomingPendingConnections ?? DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS,
      // the per-address rate is applied by the gater instead (see gater.ts);
      // this turns libp2p's off
      inboundConnectionThreshold: Number.MAX_SAFE_INTEGER
    },
    services: {
      identify: identify(),
      // browsers ping every connection every 3 s; a ping stream still closing must not
      // make the next one fail (@libp2p/ping allows 2 inbound by default)
      ping: ping({ maxInboundStreams: PING_MAX_INBOUND_STREAMS, maxOutboundStreams: PING_MAX_OUTBOUND_STREAMS }),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: options.maxReservations ?? DEFAULT_MAX_RESERVATIONS,
          reservationTtl: Math.min(options.reservationTtl ?? DEFAULT_RESERVATION_TTL, MAX_TIMER),
          ...relayLimits(options)
        },
        // per connection: circuits a peer opens through us (each open circuit
        // keeps its hop stream), and circuits to one peer (stop streams we
        // open) — more of those, so one abusive source cannot fill a target
        maxInboundHopStreams: maxCircuitsPerPeer,
        maxOutboundStopStreams: maxCircuitsPerPeer * STOP_STREAMS_PER_HOP
      }),
      pubsub: gossipsub({
        // A hub: every member of a room is in the relay's mesh for that room,
        // so a message is forwarded to all of them at once, not gossiped.
        D: roomMeshSize,
        Dlo: roomMeshSize,
        Dhi: roomMeshSize,
        heartbeatInterval: options.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL,
        // the relay only forwards; it never publishes
        allowPublishToZeroTopicPeers: true,
        floodPublish: true,
        // when the relay leaves a room (its last member left) a linked relay
        // backs off re-grafting for this long; the default 10 s would cut the
        // room between the two relays for that long if a member came back
        unsubcribeBackoff: ROOM_UNSUBSCRIBE_BACKOFF,
        // many browsers share an IP address (NAT, a proxy, a test on
        // loopback); the colocation penalty would drop them from the mesh
        scoreParams: { IPColocationFactorWeight: 0 },
        // per-peer topic budget: bounds the rooms one peer can make us track
        maxTopicBytesPerPeer: maxRoomsPerPeer * (MAX_ROOM_TOPIC_LENGTH + TOPIC_ENTRY_OVERHEAD),
        maxInboundDataLength: DEFAULT_MAX_PUBSUB_MESSAGE_SIZE,
        maxOutboundBufferSize: DEFAULT_MAX_PUBSUB_BUFFER,
        // tagging thousands of mesh peers costs a peer store write per graft
        // and protects nothing here
        tagMeshPeers: false
      })
    }
  })
  const libp2p: Libp2p<RelayServices> = node

  // peers that are relays themselves: linked ones, and any that speak hop
  const relayPeers = new Set<string>()
  const links = new PeerLinks(libp2p, peerAddrs, log)
  const isRelay = (peer: PeerId): boolean => relayPeers.has(peer.toString()) || links.has(peer)

  const follower = new RoomFollower(libp2p.services.pubsub, {
    maxRooms: options.maxRooms ?? DEFAULT_MAX_ROOMS,
    isRelay,
    sweepInterval: ROOM_SWEEP_INTERVAL,
    log
  })

  libp2p.addEventListener('peer:identify', (evt) => {
    if (evt.detail.protocols.includes(RELAY_V2_HOP_CODEC)) {
      relayPeers.add(evt.detail.peerId.toString())
    }
  })
  libp2p.addEventListener('peer:disconnect', (evt) => {
    relayPeers.delete(evt.detail.toString())
    // circuit-relay-v2 keeps a reservation until its TTL even after the peer
    // has gone; free the slot now
    const reservation = libp2p.services.relay.reservations.get(evt.detail)
    if (reservation != null) {
      reservation.signal.clear()
      libp2p.services.relay.reservations.delete(evt.detail)
    }
    follower.peerLeft()
  })

  follower.start()
  links.start()

  const status = (): RelayStatus => ({
    ok: libp2p.status === 'started',
    peerId: libp2p.peerId.toString(),
    connections: libp2p.getConnections().length,
    reservations: libp2p.services.relay.reservations.size,
    topics: follower.topics.length,
    linkedRelays: links.connected
  })

  let health: HealthEndpoint | undefined
  if (options.healthPort != null) {
    try {
      health = await startHealthEndpoint({ host: options.healthHost ?? host, port: options.healthPort, status })
    } catch (err) {
      follower.stop()
      links.stop()
      await libp2p.stop()
      throw err
    }
  }

  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      follower.stop()
      links.stop()
      await health?.stop()
      await libp2p.stop()
    })()
    return stopping
  }

  return {
    node: libp2p,
    peerId: libp2p.peerId,
    multiaddrs: libp2p.getMultiaddrs(),
    healthUrl: health?.url,
    rooms: () => follower.topics,
    status,
    stop
  }
}

/**
 * The reservation limits for circuit-relay-v2. Its store applies `{ data,
 * duration }` to every reservation when `applyDefaultLimit` is on, and a 0
 * would not mean "none" there (a 0 duration aborts at once), so one disabled
 * dimension gets the largest value instead.
 * Note: the server enforces `duration` in milliseconds but sends the same
 * number to clients, whose LimitTracker reads it as seconds.
 */
function relayLimits (options: RelayOptions): { applyDefaultLimit: boolean, defaultDurationLimit?: number, defaultDataLimit?: bigint } {
  const duration = options.relayedConnectionDuration ?? DEFAULT_RELAYED_CONNECTION_DURATION
  const data = BigInt(options.relayedConnectionData ?? DEFAULT_RELAYED_CONNECTION_DATA)
  if (duration < 0 || data < 0n) {
    throw new TypeError('relayed connection limits must not be negative')
  }
  if (duration === 0 && data === 0n) {
    return { applyDefaultLimit: false }
  }
  return {
    applyDefaultLimit: true,
    defaultDurationLimit: duration === 0 ? MAX_TIMER : Math.min(duration, MAX_TIMER),
    defaultDataLimit: data === 0n ? MAX_UINT64 : data
  }
}
