/**
 * Turns relayed connections between browsers into direct WebRTC ones.
 *
 * When a relayed connection to a peer opens, this dials the peer's
 * `/p2p-circuit/webrtc` address (signalling runs over the relayed
 * connection). Messages keep flowing over the relayed connection meanwhile;
 * the messenger moves its streams once the direct connection is up.
 *
 * It survives the @libp2p/webrtc 6.0.33 dial race (about 1 dial in 15 hangs
 * waiting for an `init` data channel that already closed): every attempt has
 * a short timeout and failed attempts are retried with backoff. Attempts per
 * peer and per node are bounded, since Chrome allows only about 500
 * RTCPeerConnections per tab. Only the peer with the smaller id dials first;
 * the other dials only if no direct connection appeared after a grace period,
 * so two tabs do not race each other's offers.
 *
 * A js-libp2p service: `services: { direct: directUpgrade() }`.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { Backoff } from '../util/backoff.js'
import { stopController, timedSignal } from '../util/signals.js'
import { errorMessage } from '../errors.js'
import { usable } from '../core/connections.js'
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger, Connection, Libp2pEvents, Logger, PeerId, Startable, TypedEventTarget, AbortOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * How long one WebRTC dial may take. A good one takes 0.2–0.3 s on a LAN.
 *
 * @default 6 s
 */
export const DEFAULT_DIRECT_DIAL_TIMEOUT = 6_000

/**
 * Attempts per peer before giving up (until the relayed connection is made anew).
 *
 * @default 4
 */
export const DEFAULT_DIRECT_ATTEMPTS_PER_PEER = 4

/**
 * Attempts over the node's lifetime (each one is an RTCPeerConnection).
 *
 * @default 300
 */
export const DEFAULT_DIRECT_ATTEMPTS_TOTAL = 300

/**
 * How long the peer with the larger id waits for the other side's dial before dialing itself.
 *
 * @default 2 s
 */
export const DEFAULT_DIRECT_GRACE = 2_000

/** How many grace periods the second side holds back while the peer's dial to it is under way. */
const MAX_WAITS = 4

/** Peers whose last failure is remembered. */
const MAX_FAILURES = 1_000

/** @libp2p/webrtc's signalling protocol: an inbound stream of it means the peer is dialing us. */
const SIGNALING_PROTOCOL = '/webrtc-signaling/0.0.1'

export interface DirectUpgradeInit {
  /** @default 6 s */
  dialTimeout?: number
  /** WebRTC dials to one peer on one relayed connection; a new relayed connection starts over. @default 4 */
  attemptsPerPeer?: number
  /** @default 300 */
  attemptsTotal?: number
  /** @default 2 s */
  grace?: number
  /** @default 1 s */
  minBackoff?: number
  /** @default 20 s */
  maxBackoff?: number
}

export interface DirectUpgradeComponents {
  peerId: PeerId
  logger?: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  connectionManager: {
    openConnection(peer: Multiaddr, options?: AbortOptions & { force?: boolean }): Promise<Connection>
    getConnections(peerId?: PeerId): Connection[]
  }
}

interface Attempt {
  peer: PeerId
  address: Multiaddr
  /** the relayed connection the attempts are made on: its budget is `attemptsPerPeer` */
  via: Connection
  attempts: number
  backoff: Backoff
  timer?: ReturnType<typeof setTimeout>
  dialing: boolean
  /** times this side held back because the peer was dialing us */
  waits: number
}

/** Why the last direct (WebRTC) dial to a peer failed. */
export interface DirectFailure {
  /** `timeout`: no connection within `dialTimeout` (ICE found no working pair, or the dial hung); `error`: the dial failed. */
  reason: 'timeout' | 'error'
  message: string
  /** Attempts made on the current relayed connection, and whether more will follow. */
  attempts: number
  retrying: boolean
  at: number
}

/** The direct upgrade, as `node.services.direct`. */
export interface DirectUpgrade {
  /** WebRTC dial attempts this node may still make (each is an RTCPeerConnection). */
  readonly remainingAttempts: number
  /** Why the last direct dial to `peer` failed; undefined if none failed since the last success. */
  lastFailure(peer: PeerId): DirectFailure | undefined
}

class DirectUpgradeImpl implements DirectUpgrade, Startable {
  private readonly components: DirectUpgradeComponents
  private readonly dialTimeout: number
  private readonly attemptsPerPeer: number
  private readonly grace: number
  private readonly minBackoff: number
  private readonly maxBackoff: number
  private attemptsLeft: number
  private readonly pending = new Map<string, Attempt>()
  private readonly failures = new Map<string, DirectFailure>()
  /** Attempts spent per open relayed connection (by connection id); a new relayed connection starts at zero. */
  private readonly spent = new Map<string, number>()
  private readonly controller = stopController()
  private readonly onOpen = (evt: CustomEvent<Connection>): void => { this.opened(evt.detail) }
  private readonly onClose = (evt: CustomEvent<Connection>): void => { this.closed(evt.detail) }

  readonly [Symbol.toStringTag] = 'libp2p-messenger/direct-upgrade'

  private readonly log: Logger

  constructor (components: DirectUpgradeComponents, init: DirectUpgradeInit = {}) {
    this.components = components
    this.log = (components.logger ?? defaultLogger()).forComponent('libp2p-messenger:direct-upgrade')
    this.dialTimeout = init.dialTimeout ?? DEFAULT_DIRECT_DIAL_TIMEOUT
    this.attemptsPerPeer = init.attemptsPerPeer ?? DEFAULT_DIRECT_ATTEMPTS_PER_PEER
    this.attemptsLeft = init.attemptsTotal ?? DEFAULT_DIRECT_ATTEMPTS_TOTAL
    this.grace = init.grace ?? DEFAULT_DIRECT_GRACE
    this.minBackoff = init.minBackoff ?? 1_000
    this.maxBackoff = init.maxBackoff ?? 20_000
  }

  lastFailure (peer: PeerId): DirectFailure | undefined {
    return this.failures.get(peer.toString())
  }

  /** Dial attempts this node may still make. */
  get remainingAttempts (): number {
    return this.attemptsLeft
  }

  start (): void {
    this.components.events.addEventListener('connection:open', this.onOpen)
    this.components.events.addEventListener('connection:close', this.onClose)
  }

  stop (): void {
    this.components.events.removeEventListener('connection:open', this.onOpen)
    this.components.events.removeEventListener('connection:close', this.onClose)
    this.controller.abort()
    for (const a of this.pending.values()) {
      clearTimeout(a.timer)
    }
    this.pending.clear()
    this.spent.clear()
    this.failures.clear()
  }

  /** The peer is dialing us now: its WebRTC signalling stream is open on a relayed connection. */
  private beingDialed (peer: PeerId): boolean {
    return this.components.connectionManager.getConnections(peer)
      .some(c => c.streams.some(s => s.protocol === SIGNALING_PROTOCOL && s.direction === 'inbound' && s.status === 'open'))
  }

  private hasDirect (peer: PeerId): boolean {
    return this.components.connectionManager.getConnections(peer).some(c => c.direct && usable(c))
  }

  private opened (conn: Connection): void {
    const key = conn.remotePeer.toString()
    if (conn.direct) {
      // only a direct connection whose ICE connected ends the attempts (see usable())
      const a = this.pending.get(key)
      if (a != null && usable(conn)) {
        clearTimeout(a.timer)
        this.pending.delete(key)
      }
      return
    }
    const address = webrtcAddress(conn.remoteAddr)
    if (address == null || this.pending.has(key) || this.hasDirect(conn.remotePeer)) {
      return
    }
    const attempt: Attempt = {
      peer: conn.remotePeer,
      address,
      via: conn,
      attempts: this.spent.get(conn.id) ?? 0,
      backoff: new Backoff(this.minBackoff, this.maxBackoff),
      dialing: false,
      waits: 0
    }
    this.pending.set(key, attempt)
    // the smaller id dials at once, the other after a grace period
    const first = this.components.peerId.toString() < key
    attempt.timer = setTimeout(() => { void this.dial(attempt) }, first ? 0 : this.grace)
  }

  /**
   * A direct connection closed while a relayed one remains (e.g. the peer
   * reloaded: its old direct connection is noticed dead only now, after its
   * new relayed one already opened): try to go direct again.
   */
  private closed (conn: Connection): void {
    if (!conn.direct) {
      this.spent.delete(conn.id)
      return
    }
    if (this.controller.signal.aborted) {
      return
    }
    const relayed = this.components.connectionManager.getConnections(conn.remotePeer).find(c => !c.direct && c.status === 'open')
    if (relayed != null) {
      this.opened(relayed)
    }
  }

  private async dial (a: Attempt): Promise<void> {
    const key = a.peer.toString()
    a.timer = undefined
    if (this.controller.signal.aborted || this.pending.get(key) !== a) {
      return
    }
    const relayed = this.components.connectionManager.getConnections(a.peer).some(c => c.status === 'open')
    if (this.hasDirect(a.peer) || !relayed || a.attempts >= this.attemptsPerPeer || this.attemptsLeft <= 0) {
      // done, or the peer is gone (a new relayed connection starts over), or out of attempts
      this.pending.delete(key)
      return
    }
    if (a.waits < MAX_WAITS && this.beingDialed(a.peer)) {
      a.waits++
      // the other side's dial is under way (slow on a busy page): dialing too would only make
      // a second RTCPeerConnection; look again once that dial had its time
      a.timer = setTimeout(() => { void this.dial(a) }, this.grace)
      return
    }
    a.attempts++
    this.attemptsLeft--
    if (a.via.status === 'open') {
      this.spent.set(a.via.id, a.attempts)
    }
    this.log('dialing %p directly (attempt %d, %d left in all)', a.peer, a.attempts, this.attemptsLeft)
    a.dialing = true
    const timed = timedSignal(this.dialTimeout, this.controller.signal)
    try {
      await this.components.connectionManager.openConnection(a.address, { signal: timed.signal, force: true })
      this.pending.delete(key)
      this.failures.delete(key)
    } catch (err) {
      this.log('direct dial to %p failed - %e', a.peer, err)
      const timedOut = timed.signal.aborted && !this.controller.signal.aborted
      this.failures.set(key, {
        reason: timedOut ? 'timeout' : 'error',
        message: timedOut ? `no direct connection within ${this.dialTimeout} ms` : errorMessage(err),
        attempts: a.attempts,
        retrying: a.attempts < this.attemptsPerPeer && this.attemptsLeft > 0,
        at: Date.now()
      })
      if (this.failures.size > MAX_FAILURES) {
        this.failures.delete(this.failures.keys().next().value as string)
      }
      if (!this.controller.signal.aborted && this.pending.get(key) === a) {
        a.timer = setTimeout(() => { void this.dial(a) }, a.backoff.next())
      }
    } finally {
      timed.clear()
      a.dialing = false
    }
  }
}

/**
 * The peer's WebRTC address through the same relay: a relayed connection's
 * `…/p2p-circuit/p2p/<peer>` becomes `…/p2p-circuit/webrtc/p2p/<peer>`.
 */
export function webrtcAddress (relayed: Multiaddr): Multiaddr | undefined {
  const text = relayed.toString()
  const i = text.lastIndexOf('/p2p-circuit/p2p/')
  if (i < 0 || text.includes('/webrtc')) {
    return undefined
  }
  return multiaddr(`${text.slice(0, i)}/p2p-circuit/webrtc${text.slice(i + '/p2p-circuit'.length)}`)
}

/** The direct upgrade as a js-libp2p service factory. */
export function directUpgrade (init: DirectUpgradeInit = {}): (components: DirectUpgradeComponents) => DirectUpgrade {
  return (components) => new DirectUpgradeImpl(components, init)
}
