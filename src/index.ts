/**
 * @packageDocumentation
 *
 * Typed, non-blocking messaging between libp2p peers: send to one peer,
 * broadcast to all, receive from any. Streams are opened, reused, replaced and
 * closed for you; on the wire each message is an unsigned-varint length
 * prefix and your bytes.
 *
 * Entry points: this one (the messenger, codecs, errors, the durable outbox
 * and receipts), `libp2p-messenger/browser` (a browser node with relays,
 * direct WebRTC, rooms and per-tab identities), `libp2p-messenger/request`
 * (request/response) and `libp2p-messenger/outbox` (for writing your own
 * outbox store).
 *
 * @example
 *
 * ```ts
 * import { createLibp2p } from 'libp2p'
 * import { tcp } from '@libp2p/tcp'
 * import { noise } from '@chainsafe/libp2p-noise'
 * import { yamux } from '@chainsafe/libp2p-yamux'
 * import { createMessenger, json } from 'libp2p-messenger'
 *
 * // a function, not one shared object: libp2p writes the generated key into its options
 * const options = () => ({
 *   addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
 *   transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()]
 * })
 * const [alice, bob] = await Promise.all([createLibp2p(options()), createLibp2p(options())])
 *
 * type Chat = { text: string }
 * const a = createMessenger<Chat>(alice, { protocol: '/chat/1.0.0', codec: json() })
 * const b = createMessenger<Chat>(bob, { protocol: '/chat/1.0.0', codec: json() })
 *
 * await alice.peerStore.merge(bob.peerId, { multiaddrs: bob.getMultiaddrs() })
 * a.send(bob.peerId, { text: 'hello' })            // returns at once
 *
 * const { from, data } = await b.receive({ signal: AbortSignal.timeout(10_000) })
 * console.log(from.toString(), data.text)          // <alice's id> hello
 *
 * await Promise.all([a.stop(), b.stop()])
 * await Promise.all([alice.stop(), bob.stop()])
 * ```
 */
import './util/polyfill.js'

export { createMessenger } from './core/messenger.js'
export type { Messenger, MessengerInit } from './core/messenger.js'
export type { Channel, ChannelInit, ChannelOptions, Delivery, MessengerNode, ReceiptStore } from './core/channel.js'
export type { Peer } from './core/peer.js'
export type { Received } from './core/inbox.js'
export type { Receipt } from './core/inbound-lane.js'
export type { QueuePolicy, DropReason } from './core/outbound-lane.js'
export type { ChannelEvents, PeerEvents, DropDetail, RangeDetail, ErrorDetail, ConnectionDetail } from './core/events.js'
export type { ConnectionKind } from './core/connections.js'
export { bytes, string, json } from './core/codec.js'
export type { Codec } from './core/codec.js'
export {
  MessageTooLargeError, FrameTooLargeError, InvalidFrameError, TruncatedFrameError, MalformedMessageError,
  QueueFullError, StreamOpenError, StreamResetError, InboundOverflowError, StorageError, MessengerStoppedError
} from './errors.js'
export { openOutbox } from './durable/outbox.js'
export type { Outbox, OutboxInit, OutboxEvents } from './durable/outbox.js'
export { indexedDBOutboxStore } from './durable/outbox-idb.js'
export type { IndexedDBOutboxInit } from './durable/outbox-idb.js'
export { memoryReceipts, localStorageReceipts } from './durable/receipts.js'
