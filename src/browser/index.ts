/**
 * @packageDocumentation
 *
 * `libp2p-messenger/browser`: a ready libp2p node for browsers — WebSockets
 * to relays, circuit relay v2 for signalling and fallback, direct WebRTC
 * between browsers, rooms — and a per-tab identity that survives reloads.
 * Its parts are ordinary js-libp2p services, usable in a node of your own.
 *
 * @example
 *
 * ```ts
 * import { createMessenger, json, openOutbox, indexedDBOutboxStore, localStorageReceipts } from 'libp2p-messenger'
 * import { createBrowserNode, loadIdentity } from 'libp2p-messenger/browser'
 *
 * const identity = await loadIdentity()
 * const node = await createBrowserNode({ relays: ['/dns4/relay.example.com/tcp/443/wss/p2p/12D3…'], room: 'lobby', privateKey: identity.privateKey })
 * const chat = createMessenger<{ text: string }>(node, { protocol: '/chat/1.0.0', codec: json() })
 * chat.addEventListener('peer:join', (e) => chat.send(e.detail, { text: 'hi!' }))
 * for await (const { from, data } of chat) console.log(from.toString(), data.text)
 * ```
 */
import '../util/polyfill.js'

export { createBrowserNode, DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT } from './node.js'
export type { BrowserNode, BrowserNodeInit, BrowserServices } from './node.js'
export { loadIdentity } from './identity.js'
export type { Identity, IdentityInit } from './identity.js'
export { relayKeeper } from './relay-keeper.js'
export type { RelayKeeper, RelayKeeperInit, RelayKeeperComponents, RelayStatus, RelayKeeperEvents } from './relay-keeper.js'
export { relayRouting } from './relay-routing.js'
export type { RelayRoutingInit, RelayRoutingComponents } from './relay-routing.js'
export { directUpgrade } from './direct-upgrade.js'
export type { DirectUpgrade, DirectUpgradeInit, DirectUpgradeComponents, DirectFailure } from './direct-upgrade.js'
export { roomDiscovery } from './room-discovery.js'
export type { RoomDiscovery, RoomDiscoveryInit, RoomDiscoveryComponents, PubSubLike } from './room-discovery.js'
export { rejoin } from './rejoin.js'
export type { RejoinInit, RejoinComponents } from './rejoin.js'
export { roomTopic, roomFromTopic, MAX_ROOM_NAME_LENGTH } from './rooms.js'
export { connectionPath, pathOf } from './path.js'
export type { PeerPath, DirectPath, RelayedPath, DirectPathKind, CandidateInfo, PathNode } from './path.js'
export { RelayAddressError, RelayUnreachableError } from './errors.js'
export type { RelayFailure } from './errors.js'
