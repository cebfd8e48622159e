/**
 * After a reload, connect again at once to the peers the tab was connected
 * to, through its relays, rather than wait for room discovery (or for an
 * application that knows its peers to dial them again).
 *
 * This is what makes a reload cheap for the others too: a peer that still
 * holds our old WebRTC connection (dead, but open on its side until its pings
 * fail, 3–8 s) sees us connect again and moves its streams to the new
 * connection at once (see liveness.ts).
 *
 * The peers are kept in the tab's sessionStorage at `pagehide`, for at most
 * `maxAge`. A js-libp2p service; `createBrowserNode` adds it.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { Circuit } from '@multiformats/multiaddr-matcher'
import { stopController, timedSignal } from '../util/signals.js'
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger, Connection, Libp2pEvents, Logger, PeerId, Startable, TypedEventTarget, AbortOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Peers saved at unload are dialed again only if the page comes back within this long.
 *
 * @default 60 s
 */
export const DEFAULT_REJOIN_MAX_AGE = 60_000

/** At most this many peers are dialed again. */
const MAX_REJOIN_PEERS = 64

/** How long one rejoin dial may take. */
const REJOIN_DIAL_TIMEOUT = 10_000

export interface RejoinInit {
  /** The relays the node keeps reservations on (multiaddrs ending in `/p2p/<relay id>`). */
  relays: string[]
  /** @default 60 s */
  maxAge?: number
}

export interface RejoinComponents {
  peerId: PeerId
  logger?: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  connectionManager: {
    openConnection(peer: Multiaddr, options?: AbortOptions): Promise<Connection>
    getConnections(peerId?: PeerId): Connection[]
  }
  addressManager: { getAddresses(): Multiaddr[] }
}

interface Saved { at: number, peers: string[] }

class Rejoin implements Startable {
  readonly [Symbol.toStringTag] = 'libp2p-messenger/rejoin'
  private readonly components: RejoinComponents
  private readonly relays: Array<{ address: string, id: string }>
  private readonly maxAge: number
  private readonly controller = stopController()
  private pending?: string[]
  private readonly key: string
  private readonly onAddresses = (): void => { this.dialSaved() }
  private readonly onPageHide = (evt: Event): void => { if ((evt as PageTransitionEvent).persisted !== true) this.save() }

  private readonly log: Logger

  constructor (components: RejoinComponents, init: RejoinInit) {
    this.components = components
    this.log = (components.logger ?? defaultLogger()).forComponent('libp2p-messenger:rejoin')
    this.maxAge = init.maxAge ?? DEFAULT_REJOIN_MAX_AGE
    this.relays = init.relays.map(address => ({ address, id: address.split('/p2p/').pop() ?? '' }))
    this.key = `libp2p-messenger/rejoin/${components.peerId.toString()}`
  }

  start (): void {
    this.pending = this.load()
    globalThis.addEventListener?.('pagehide', this.onPageHide)
    if (this.pending.length > 0) {
      this.components.events.addEventListener('self:peer:update', this.onAddresses)
      this.components.events.addEventListener('transport:listening', this.onAddresses)
    }
  }

  stop (): void {
    this.controller.abort()
    globalThis.removeEventListener?.('pagehide', this.onPageHide)
    this.components.events.removeEventListener('self:peer:update', this.onAddresses)
    this.components.events.removeEventListener('transport:listening', this.onAddresses)
  }

  private load (): string[] {
    try {
      const raw = globalThis.sessionStorage?.getItem(this.key)
      globalThis.sessionStorage?.removeItem(this.key)
      const saved = raw != null ? JSON.parse(raw) as Saved : undefined
      if (saved == null || !Array.isArray(saved.peers) || Date.now() - saved.at > this.maxAge) {
        return []
      }
      return saved.peers.filter(p => typeof p === 'string').slice(0, MAX_REJOIN_PEERS)
    } catch (err) {
      this.log('nothing to rejoin - %e', err)
      return []
    }
  }

  private save (): void {
    const relayIds = new Set(this.relays.map(r => r.id))
    const peers = [...new Set(this.components.connectionManager.getConnections()
      .map(c => c.remotePeer.toString())
      .filter(p => !relayIds.has(p)))]
    try {
      globalThis.sessionStorage?.setItem(this.key, JSON.stringify({ at: Date.now(), peers: peers.slice(0, MAX_REJOIN_PEERS) }))
    } catch (err) {
      this.log.error('could not save the peers to rejoin - %e', err)
    }
  }

  /** Once we hold a reservation: dial each saved peer through that relay. */
  private dialSaved (): void {
    const peers = this.pending
    if (peers == null || peers.length === 0 || this.controller.signal.aborted) {
      return
    }
    const reserved = this.components.addressManager.getAddresses().map(a => a.toString()).filter(a => Circuit.matches(multiaddr(a)))
    const relay = this.relays.find(r => reserved.some(a => a.includes(`/p2p/${r.id}/p2p-circuit`)))
    if (relay == null) {
      return
    }
    this.pending = undefined
    this.components.events.removeEventListener('self:peer:update', this.onAddresses)
    this.components.events.removeEventListener('transport:listening', this.onAddresses)
    this.log('rejoining %d peers through %s', peers.length, relay.address)
    for (const peer of peers) {
      if (this.components.connectionManager.getConnections().some(c => c.remotePeer.toString() === peer)) {
        continue
      }
      const timed = timedSignal(REJOIN_DIAL_TIMEOUT, this.controller.signal)
      this.components.connectionManager.openConnection(multiaddr(`${relay.address}/p2p-circuit/p2p/${peer}`), { signal: timed.signal })
        .catch((err) => { this.log('could not rejoin %s (gone, or back later through discovery) - %e', peer, err) })
        .finally(() => { timed.clear() })
    }
  }
}

/** The rejoin service as a js-libp2p service factory. */
export function rejoin (init: RejoinInit): (components: RejoinComponents) => Startable {
  return (components) => new Rejoin(components, init)
}
