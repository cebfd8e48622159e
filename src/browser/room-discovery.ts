/**
 * Rooms: peers that join the same room find each other through the relays.
 *
 * Built on the existing libp2p mechanism, @libp2p/pubsub-peer-discovery over
 * gossipsub, on the topic `libp2p-messenger/room/<room>` (the relay follows
 * room topics its peers subscribe to). Two things are added, because that
 * module only announces on a 10 s timer and never when addresses change:
 * - announce at once when we gain a relay address, when someone subscribes
 *   to the room, and when a peer we have not heard from appears (rate-limited);
 * - dial the peers we hear about (through the relay), so the messenger sees them.
 *
 * A js-libp2p service, used together with the discovery it wraps (see
 * `createBrowserNode`).
 */
import { Circuit } from '@multiformats/multiaddr-matcher'
import { pubsubPeerDiscovery } from '@libp2p/pubsub-peer-discovery'
import { Backoff } from '../util/backoff.js'
import { roomTopic } from './rooms.js'
import { stopController, timedSignal } from '../util/signals.js'
import type { PubSubPeerDiscovery, PubSubPeerDiscoveryComponents } from '@libp2p/pubsub-peer-discovery'
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger, Connection, Libp2pEvents, Logger, PeerDiscovery, PeerId, PeerInfo, Startable, TypedEventTarget, AbortOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Periodic announcement interval (the module's own timer).
 *
 * @default 10 s
 */
export const DEFAULT_ROOM_INTERVAL = 10_000

/**
 * Room peers this node dials by itself.
 *
 * @default 64
 */
export const DEFAULT_ROOM_MAX_PEERS = 64

/** Shortest gap between two extra announcements. */
const MIN_ANNOUNCE_GAP = 300

export interface RoomDiscoveryInit {
  room: string
  /** @default 10 s */
  interval?: number
  /** @default 64 */
  maxPeers?: number
}

/** What room discovery needs of a pubsub service (gossipsub has it). */
export interface PubSubLike {
  addEventListener(type: 'subscription-change', listener: (evt: CustomEvent<{ peerId: PeerId, subscriptions: Array<{ topic: string, subscribe: boolean }> }>) => void): void
  removeEventListener(type: 'subscription-change', listener: (evt: any) => void): void
  getSubscribers(topic: string): PeerId[]
}

export interface RoomDiscoveryComponents {
  peerId: PeerId
  logger?: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  connectionManager: {
    openConnection(peer: Multiaddr, options?: AbortOptions): Promise<Connection>
    getConnections(peerId?: PeerId): Connection[]
  }
  addressManager: { getAddresses(): Multiaddr[] }
  pubsub?: PubSubLike
}

/** Holds the wrapped pubsub-peer-discovery instance for the room service. */
export interface RoomDiscoveryLink {
  discovery?: PubSubPeerDiscovery
}

/** Room discovery, as `node.services.room`. */
export interface RoomDiscovery {
  readonly room: string
  /** The pubsub topic it announces on. */
  readonly topic: string
  /** Announce ourselves to the room now (rate-limited). */
  announceSoon(): void
}

class RoomDiscoveryImpl implements RoomDiscovery, Startable {
  readonly room: string
  readonly topic: string
  private readonly components: RoomDiscoveryComponents
  private readonly link: RoomDiscoveryLink
  private readonly maxPeers: number
  private readonly known = new Set<string>()
  private readonly dialing = new Map<string, { backoff: Backoff, timer?: ReturnType<typeof setTimeout> }>()
  private readonly controller = stopController()
  private lastAnnounce = 0
  private announceTimer?: ReturnType<typeof setTimeout>
  private readonly onPeer = (evt: CustomEvent<PeerInfo>): void => { this.heard(evt.detail) }
  private readonly onAddresses = (): void => { this.announceSoon() }
  private readonly onSubscription = (evt: CustomEvent<{ subscriptions: Array<{ topic: string, subscribe: boolean }> }>): void => {
    if (evt.detail.subscriptions.some(s => s.topic === this.topic && s.subscribe)) {
      this.announceSoon()
    }
  }

  readonly [Symbol.toStringTag] = 'libp2p-messenger/room-discovery'

  private readonly log: Logger

  constructor (components: RoomDiscoveryComponents, init: RoomDiscoveryInit, link: RoomDiscoveryLink) {
    this.components = components
    this.log = (components.logger ?? defaultLogger()).forComponent('libp2p-messenger:room')
    this.room = init.room
    this.topic = roomTopic(init.room)
    this.link = link
    this.maxPeers = init.maxPeers ?? DEFAULT_ROOM_MAX_PEERS
  }

  start (): void {
    this.components.events.addEventListener('transport:listening', this.onAddresses)
    this.components.events.addEventListener('self:peer:update', this.onAddresses)
    this.components.pubsub?.addEventListener('subscription-change', this.onSubscription)
  }

  afterStart (): void {
    this.link.discovery?.addEventListener('peer', this.onPeer)
    this.announceSoon()
  }

  stop (): void {
    this.controller.abort()
    clearTimeout(this.announceTimer)
    for (const d of this.dialing.values()) {
      clearTimeout(d.timer)
    }
    this.dialing.clear()
    this.components.events.removeEventListener('transport:listening', this.onAddresses)
    this.components.events.removeEventListener('self:peer:update', this.onAddresses)
    this.components.pubsub?.removeEventListener('subscription-change', this.onSubscription)
    this.link.discovery?.removeEventListener('peer', this.onPeer)
  }

  /** Announce ourselves to the room now (rate-limited). */
  announceSoon (): void {
    if (this.announceTimer != null || this.controller.signal.aborted) {
      return
    }
    const wait = Math.max(0, this.lastAnnounce + MIN_ANNOUNCE_GAP - Date.now())
    this.announceTimer = setTimeout(() => {
      this.announceTimer = undefined
      const circuit = this.components.addressManager.getAddresses().some(a => Circuit.matches(a))
      const listeners = this.components.pubsub?.getSubscribers(this.topic).length ?? 0
      if (!circuit || listeners === 0) {
        return // nothing useful to say yet, or nobody to say it to: a later event retries
      }
      this.lastAnnounce = Date.now()
      try {
        this.link.discovery?._broadcast()
        this.log.trace('announced to room %s', this.room)
      } catch (err) {
        this.log.error('could not announce to room %s - %e', this.room, err)
      }
    }, wait)
  }

  private heard (info: PeerInfo): void {
    const key = info.id.toString()
    if (key === this.components.peerId.toString()) {
      return
    }
    if (!this.known.has(key)) {
      // a newcomer: tell it about us rather than let it wait for our timer
      this.known.add(key)
      this.announceSoon()
    }
    this.connect(info)
  }

  private connect (info: PeerInfo): void {
    const key = info.id.toString()
    if (this.dialing.has(key) || this.components.connectionManager.getConnections(info.id).some(c => c.status === 'open')) {
      return
    }
    if (this.dialing.size >= this.maxPeers) {
      return
    }
    // through a relay first: the direct upgrade follows from that connection
    const address = info.multiaddrs.find(a => Circuit.exactMatch(a)) ?? info.multiaddrs.find(a => Circuit.matches(a))
    if (address == null) {
      return
    }
    const state: { backoff: Backoff, timer?: ReturnType<typeof setTimeout> } = { backoff: new Backoff(1_000, 30_000) }
    this.dialing.set(key, state)
    const attempt = (): void => {
      state.timer = undefined
      if (this.controller.signal.aborted) {
        return
      }
      const timed = timedSignal(10_000, this.controller.signal)
      this.components.connectionManager.openConnection(address, { signal: timed.signal })
        .then(() => { this.dialing.delete(key) })
        .catch(() => {
          if (state.backoff.failures >= 3 || this.controller.signal.aborted) {
            this.dialing.delete(key) // its next announcement starts over
          } else {
            state.timer = setTimeout(attempt, state.backoff.next())
          }
        })
        .finally(() => { timed.clear() })
    }
    attempt()
  }
}

/**
 * The room's two parts: the pubsub-peer-discovery instance (for libp2p's
 * `peerDiscovery` list, so discovered peers reach the peer store) and the
 * service that drives it.
 */
export function roomDiscovery (init: RoomDiscoveryInit): {
  discovery: (components: PubSubPeerDiscoveryComponents) => PeerDiscovery
  service: (components: RoomDiscoveryComponents) => RoomDiscovery
} {
  const link: RoomDiscoveryLink = {}
  return {
    discovery: (components) => {
      const d = pubsubPeerDiscovery({ topics: [roomTopic(init.room)], interval: init.interval ?? DEFAULT_ROOM_INTERVAL })(components)
      link.discovery = d as PubSubPeerDiscovery
      return d
    },
    service: (components) => new RoomDiscoveryImpl(components, init, link)
  }
}
