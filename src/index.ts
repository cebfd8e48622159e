/**
 * @packageDocumentation
 *
 * Typed, non-blocking messaging between libp2p peers: send to one peer,
 * broadcast to all, receive from any. Streams are opened, reused, replaced and
 * closed for you; on the wire each message is an unsigned-varint length
 * prefix and your bytes.
 *
 * @example
 *
 * ```ts
 * import { createLibp2p } from 'libp2p'
 * import { tcp } from '@libp2p/tcp'
 * import { noise } from '@chainsafe/libp2p-noise'
 * import { yamux } from '@chainsafe/libp2p-yamux'
 * import { identify } from '@libp2p/identify'
 * import { createMessenger, json } from 'libp2p-messenger'
 *
 * const options = {
 *   addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
 *   transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()],
 *   services: { identify: identify() }
 * }
 * const alice = await createLibp2p(options)
 * const bob = await createLibp2p(options)
 *
 * type Chat = { text: string }
 * const a = createMessenger<Chat>(alice, { protocol: '/chat/1.0.0', codec: json() })
 * const b = createMessenger<Chat>(bob, { protocol: '/chat/1.0.0', codec: json() })
 * await Promise.all([a.ready, b.ready])
 *
 * await alice.peerStore.merge(bob.peerId, { multiaddrs: bob.getMultiaddrs() })
 * a.send(bob.peerId, { text: 'hello' })            // returns at once
 *
 * const { from, data } = await b.receive()
 * console.log(from.toString(), data.text)          // <alice's id> hello
 * await Promise.all([a.stop(), b.stop()])
 * ```
 */
import './polyfill.js'

export { createMessenger } from './messenger.js'
export { MemoryReceipts, localStorageReceipts } from './receipts.js'
export type { Messenger, MessengerInit } from './messenger.js'
export type { Channel, ChannelInit, ChannelOptions, Delivery, MessengerNode, ReceiptStore } from './channel.js'
export type { Peer } from './peer.js'
export type { Received } from './inbox.js'
export type { Receipt } from './inbound-lane.js'
export type { QueuePolicy, DropReason } from './outbound-lane.js'
export type { ChannelEvents, PeerEvents, DropDetail, RangeDetail, ErrorDetail } from './events.js'
export type { ConnectionKind } from './connections.js'
export { bytes, string, json } from './codec.js'
export type { Codec } from './codec.js'
export { FrameDecoder, frame } from './framing.js'
export * from './errors.js'
export * from './constants.js'
export { createBrowserNode, DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT } from './browser.js'
export type { BrowserNode, BrowserNodeInit, BrowserServices } from './browser.js'
export { relayKeeper, RelayKeeper } from './relay-keeper.js'
export type { RelayKeeperInit, RelayStatus, RelayKeeperEvents } from './relay-keeper.js'
export { directUpgrade, DirectUpgrade, webrtcAddress } from './direct-upgrade.js'
export type { DirectUpgradeInit } from './direct-upgrade.js'
export { roomDiscovery, RoomDiscovery } from './room-discovery.js'
export type { RoomDiscoveryInit } from './room-discovery.js'
export { roomTopic, roomFromTopic } from './rooms.js'
export { openOutbox, memoryOutboxStore, memoryLedger, DEFAULT_OUTBOX_LANE_TTL, DEFAULT_OUTBOX_WRITE_DELAY, DEFAULT_OUTBOX_SPILL_BYTES } from './outbox.js'
export type { Outbox, OutboxStore, OutboxLedger, LedgerEntry, OutboxRecord, OutboxLane, OutboxBatch, OutboxRemoval, OutboxInit, OutboxEvents } from './outbox.js'
export { indexedDBOutboxStore, localStorageLedger } from './outbox-idb.js'
export type { IndexedDBOutboxInit } from './outbox-idb.js'
export { loadIdentity } from './identity.js'
export type { Identity, IdentityInit } from './identity.js'
export { createRequestor, DEFAULT_REQUEST_TIMEOUT, DEFAULT_HANDLER_TIMEOUT, DEFAULT_MAX_REQUEST_SIZE, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_MAX_CONCURRENT_PER_PEER, DEFAULT_MAX_IN_FLIGHT_PER_PEER, DEFAULT_MAX_QUEUED_REQUESTS, DEFAULT_REQUEST_MODE, MULTIPLEXED_SUFFIX } from './request.js'
export type { Requestor, RequestorInit, RequestOptions, RequestMode, RequestHandler, HandlerContext, RequestorNode, RequestorEvents, RequestErrorDetail } from './request.js'
