/**
 * Every default of the relay, in one place. The option docs in `server.ts`
 * and the CLI's `--help` refer to these constants rather than repeating their
 * values, so a value is changed (and explained) here only.
 *
 * Names starting with `DEFAULT_` are defaults of `RelayOptions` fields (and of
 * CLI flags); the others are fixed tuning values that are not options.
 */

const second = 1000
const minute = 60 * second
const hour = 60 * minute

// ------------------------------------------------------------- listening

/**
 * Interface to listen on.
 *
 * @default '127.0.0.1'
 */
export const DEFAULT_HOST = '127.0.0.1'

/**
 * TCP port of the WebSocket listener.
 *
 * @default 9090
 */
export const DEFAULT_PORT = 9090

// ------------------------------------------------------------- circuit relay

/**
 * Reservations the relay holds at once. A reservation is what gives a browser
 * its `/p2p-circuit` address; one peer holds at most one (the store is keyed
 * by PeerId, a second request refreshes the first).
 *
 * @default 2048
 */
export const DEFAULT_MAX_RESERVATIONS = 2048

/**
 * How long a reservation lives unless refreshed, in ms. Clients refresh five
 * minutes before expiry; a long TTL keeps that traffic negligible. Capacity is
 * not held by gone peers: the relay drops a peer's reservation as soon as its
 * last connection closes (the library itself would keep it until expiry).
 * Values above {@link MAX_TIMER} are clamped to it.
 *
 * @default 43200000 (12 hours)
 */
export const DEFAULT_RESERVATION_TTL = 12 * hour

/**
 * Longest life of one relayed connection, in ms. Relayed connections carry
 * WebRTC signalling and, when WebRTC fails, the chat itself, so the limit is
 * far above the library default (2 minutes) but still bounds how long a peer
 * can use the relay as a free proxy. When it is hit the relay resets the
 * circuit and the client dials again. 0 means no time limit.
 *
 * @default 3600000 (1 hour)
 */
export const DEFAULT_RELAYED_CONNECTION_DURATION = hour

/**
 * Most bytes (both directions together) one relayed connection may carry
 * before the relay resets it. The library default is 128 KiB. 0 means no data
 * limit. With both this and the duration at 0 relayed connections are not
 * limited at all (`applyDefaultLimit: false`) and clients see them as
 * ordinary, unlimited connections.
 *
 * @default 67108864 (64 MiB)
 */
export const DEFAULT_RELAYED_CONNECTION_DATA = 64 * 1024 * 1024

/**
 * Relayed connections one peer may have open *through* the relay at once
 * (inbound hop streams per connection; each open circuit keeps its hop stream).
 * A peer may receive {@link STOP_STREAMS_PER_HOP} times as many (stop streams
 * per connection), so one source at its limit cannot take all of a target's
 * capacity. The library default is 32 (the registrar default).
 *
 * @default 256
 */
export const DEFAULT_MAX_CIRCUITS_PER_PEER = 256

// ------------------------------------------------------------- connections

/**
 * Total connections (browsers and linked relays). Relayed connections do not
 * count: at the relay they are streams. The library default is 300.
 *
 * @default 4096
 */
export const DEFAULT_MAX_CONNECTIONS = 4096

/**
 * Open connections from one IP address, so one host cannot take all of
 * `maxConnections`. Addresses in `allow` (by default loopback, where a local
 * reverse proxy would connect from) are exempt. 0 means no per-address limit.
 *
 * @default 128
 */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 128

/**
 * New inbound connections accepted per second from one IP address. libp2p's
 * own `inboundConnectionThreshold` (default 5) does the same but can only
 * exempt addresses through its `allow` list, which also lifts `maxConnections`
 * and pruning for them; so the relay applies this rate itself, in its
 * connection gater (`gater.ts`), and exempts the `allow` networks from the
 * rate only.
 *
 * @default 10
 */
export const DEFAULT_INBOUND_CONNECTION_THRESHOLD = 10

/**
 * Inbound connections in their handshake (noise + yamux) at once, from all
 * hosts together (libp2p `maxIncomingPendingConnections`; the library default
 * is 10, which a thousand browsers reconnecting after a relay restart would
 * queue behind).
 *
 * @default 256
 */
export const DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS = 256

/**
 * Networks exempt from the per-address limits (CIDR notation, or a single
 * address); they still count towards `maxConnections`. Loopback, because
 * behind a local reverse proxy every client connects from there.
 *
 * @default ['127.0.0.0/8', '::1/128']
 */
export const DEFAULT_ALLOW = ['127.0.0.0/8', '::1/128']

// ------------------------------------------------------------- rooms

/**
 * Rooms the relay follows at once (see `room-follower.ts`). Keep it below
 * about 800: every client hears of every room the relay follows, and a
 * client's gossipsub ignores a peer's subscriptions beyond its
 * `maxTopicBytesPerPeer` budget (default 1 MiB at ~1.2 KiB per room topic),
 * after which it would no longer see the relay in its own room.
 *
 * @default 512
 */
export const DEFAULT_MAX_ROOMS = 512

/**
 * Room topics one peer may subscribe to at the relay; further subscriptions
 * from that peer are ignored (gossipsub `maxTopicBytesPerPeer`).
 *
 * @default 32
 */
export const DEFAULT_MAX_ROOMS_PER_PEER = 32

/**
 * Peers of one room the relay forwards each message to directly (the gossipsub
 * mesh degree: D = Dlo = Dhi). Members beyond it still get messages, later,
 * through gossip.
 *
 * @default 1024
 */
export const DEFAULT_ROOM_MESH_SIZE = 1024

/**
 * Gossipsub heartbeat, in ms. A peer that joins a room becomes a mesh member
 * at once when the relay already has a stream to it, otherwise at the next
 * heartbeat; until then the relay does not forward that room's messages to it.
 * The library default is 1000.
 *
 * @default 250
 */
export const DEFAULT_HEARTBEAT_INTERVAL = 250

/**
 * Largest gossipsub RPC accepted from a peer, in bytes.
 *
 * @default 1048576 (1 MiB)
 */
export const DEFAULT_MAX_PUBSUB_MESSAGE_SIZE = 1024 * 1024

/**
 * Pubsub data queued for one slow peer before the relay drops its gossipsub
 * stream (gossipsub `maxOutboundBufferSize`; unbounded by default).
 *
 * @default 8388608 (8 MiB)
 */
export const DEFAULT_MAX_PUBSUB_BUFFER = 8 * 1024 * 1024

/**
 * How long a linked relay backs off re-grafting a room after this relay left
 * it (its last member left), in ms (gossipsub `unsubcribeBackoff`). The
 * library default of 10 s would cut the room between the two relays for that
 * long if a member came back.
 *
 * @default 1000
 */
export const ROOM_UNSUBSCRIBE_BACKOFF = 1_000

/**
 * How often the relay re-checks every followed and waiting room, in ms.
 *
 * @default 5000
 */
export const ROOM_SWEEP_INTERVAL = 5_000

/**
 * Delay of the extra sweep after a peer disconnected or a room slot was freed,
 * in ms. Long enough for gossipsub's own disconnect handling to have run, and
 * many disconnects at once cost one sweep.
 *
 * @default 50
 */
export const ROOM_SWEEP_SOON_DELAY = 50

/**
 * At most one "room limit reached" line per this many ms.
 *
 * @default 10000
 */
export const ROOM_REFUSAL_LOG_INTERVAL = 10_000

// ------------------------------------------------------------- services

/**
 * Stop streams a peer may receive per hop stream a peer may open (see
 * {@link DEFAULT_MAX_CIRCUITS_PER_PEER}).
 *
 * @default 4
 */
export const STOP_STREAMS_PER_HOP = 4

/**
 * Inbound ping streams per connection. Browsers ping every connection every
 * 3 s; a ping stream still closing must not make the next one fail
 * (@libp2p/ping allows 2 by default).
 *
 * @default 8
 */
export const PING_MAX_INBOUND_STREAMS = 8

/**
 * Outbound ping streams per connection.
 *
 * @default 4
 */
export const PING_MAX_OUTBOUND_STREAMS = 4

/**
 * Keep-alive of idle HTTP connections to the health endpoint, in ms.
 *
 * @default 5000
 */
export const HEALTH_KEEP_ALIVE_TIMEOUT = 5_000

// ------------------------------------------------------------- linked relays

/**
 * First retry delay after a failed dial to a linked relay, and the delay
 * before redialing a lost link, in ms.
 *
 * @default 1000
 */
export const LINK_MIN_RETRY_DELAY = 1_000

/**
 * Longest retry delay between dials to a linked relay, in ms.
 *
 * @default 30000
 */
export const LINK_MAX_RETRY_DELAY = 30_000

/**
 * How long one dial to a linked relay may take, in ms.
 *
 * @default 10000
 */
export const LINK_DIAL_TIMEOUT = 10_000

// ------------------------------------------------------------- CLI

/**
 * The CLI's identity key file, relative to the working directory.
 *
 * @default '.relay/relay-key'
 */
export const DEFAULT_KEY_FILE = '.relay/relay-key'

/**
 * The CLI's info file (`{ peerId, multiaddrs, pid, startedAt, health }`),
 * relative to the working directory.
 *
 * @default '.relay/relay.json'
 */
export const DEFAULT_INFO_FILE = '.relay/relay.json'

/**
 * How long a clean shutdown of the CLI may take before the process exits
 * anyway, in ms.
 *
 * @default 10000
 */
export const SHUTDOWN_TIMEOUT = 10_000

// ------------------------------------------------------------- limits of the platform

/** `setTimeout()` and `AbortSignal.timeout()` accept at most this many ms (2^31 - 1). */
export const MAX_TIMER = 2 ** 31 - 1
