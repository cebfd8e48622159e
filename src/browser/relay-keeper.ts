/**
 * Keeps a circuit-relay-v2 reservation on every configured relay.
 *
 * js-libp2p makes a reservation when a relay connection comes up, but never
 * redials a relay whose connection dropped or whose process restarted: the
 * address it gave us is gone for good. This service checks each relay on
 * start, on connection and listener events, and every few seconds, and
 * redials it with backoff until the reservation is back. Use it with the
 * plain `'/p2p-circuit'` listen address, once per relay.
 *
 * A js-libp2p service: `services: { relays: relayKeeper({ relays }) }`.
 */
import { TypedEventEmitter } from 'main-event'
import { multiaddr } from '@multiformats/multiaddr'
import { Backoff } from '../util/backoff.js'
import { stopController, timedSignal } from '../util/signals.js'
import { errorMessage } from '../errors.js'
import { RelayUnreachableError } from './errors.js'
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger, Connection, Libp2pEvents, Logger, PeerId, Startable, TypedEventTarget, AbortOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * How often each relay is checked even without events.
 *
 * @default 5 s
 */
export const DEFAULT_RELAY_CHECK_INTERVAL = 5_000

/**
 * How long one dial to a relay may take.
 *
 * @default 5 s
 */
export const DEFAULT_RELAY_DIAL_TIMEOUT = 5_000

/**
 * How long a relay connection may stay up without giving us a reservation
 * before it is closed and dialed anew.
 *
 * @default 10 s
 */
export const DEFAULT_RESERVATION_GRACE = 10_000

/**
 * How long `waitOnline()` waits for a first reservation by default.
 *
 * @default 10 s
 */
export const DEFAULT_ONLINE_TIMEOUT = 10_000

/** Page events after which a lost relay is dialed at once. */
const PAGE_EVENTS = ['online', 'pageshow', 'visibilitychange']

export interface RelayKeeperInit {
  /** Relay multiaddrs, each ending in `/p2p/<relay id>`. */
  relays: string[]
  /** @default 5 s */
  checkInterval?: number
  /** @default 5 s */
  dialTimeout?: number
  /** @default 500 ms */
  minBackoff?: number
  /** @default 15 s */
  maxBackoff?: number
  /**
   * Where the page says the network came back (`online`), or that it is shown
   * again (`pageshow`, `visibilitychange`): every relay without a reservation
   * is dialed at once, whatever its backoff. Defaults to the page's `window`
   * and `document` where there are such.
   */
  pageEvents?: EventTarget
}

export interface RelayKeeperComponents {
  logger?: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  connectionManager: {
    openConnection(peer: Multiaddr, options?: AbortOptions): Promise<Connection>
    getConnections(peerId?: PeerId): Connection[]
  }
  addressManager: { getAddresses(): Multiaddr[] }
}

/** One relay as the keeper sees it. */
export interface RelayStatus {
  address: string
  reserved: boolean
  /** Why the last attempt gave no reservation (a dial error, or a connection without one); cleared once reserved. */
  error?: string
}

export interface RelayKeeperEvents {
  /** A reservation was gained or lost. */
  'reservation:change': CustomEvent<RelayStatus>
}

interface Relay {
  address: string
  ma: Multiaddr
  peer: string
  reserved: boolean
  error?: string
  dialing: boolean
  connectedSince?: number
  nextDial: number
  backoff: Backoff
}

/** The relay keeper, as `node.services.relays`. */
export interface RelayKeeper {
  /** Every configured relay and whether we hold a reservation on it now. */
  status(): RelayStatus[]
  /** True while at least one reservation is held. */
  readonly online: boolean
  /** Check every relay now (also runs on events and on a timer): after `online`, say. */
  checkAll(): void
  /**
   * Resolves once a reservation is held (at once if one is).
   *
   * @throws RelayUnreachableError after `timeout` ms (default 10 s), naming every relay and its last error
   */
  waitOnline(options?: AbortOptions & { timeout?: number }): Promise<void>
  addEventListener: TypedEventEmitter<RelayKeeperEvents>['addEventListener']
  removeEventListener: TypedEventEmitter<RelayKeeperEvents>['removeEventListener']
}

class RelayKeeperImpl extends TypedEventEmitter<RelayKeeperEvents> implements RelayKeeper, Startable {
  private readonly components: RelayKeeperComponents
  private readonly relays: Relay[]
  private readonly checkInterval: number
  private readonly dialTimeout: number
  private timer?: ReturnType<typeof setInterval>
  private readonly controller = stopController()
  private readonly onEvent = (): void => { queueMicrotask(() => { this.checkAll() }) }
  private readonly pageEvents: EventTarget[]
  private readonly onPageEvent = (evt: Event): void => {
    if (evt.type === 'visibilitychange' && (globalThis as any).document?.visibilityState === 'hidden') {
      return
    }
    this.log('%s: dialing every relay without a reservation now', evt.type)
    this.dialNow()
  }

  private readonly log: Logger

  constructor (components: RelayKeeperComponents, init: RelayKeeperInit) {
    super()
    this.components = components
    this.log = (components.logger ?? defaultLogger()).forComponent('libp2p-messenger:relay-keeper')
    this.checkInterval = init.checkInterval ?? DEFAULT_RELAY_CHECK_INTERVAL
    this.dialTimeout = init.dialTimeout ?? DEFAULT_RELAY_DIAL_TIMEOUT
    const page = globalThis as unknown as EventTarget & { document?: EventTarget }
    this.pageEvents = init.pageEvents != null
      ? [init.pageEvents]
      : [typeof page.addEventListener === 'function' ? page : undefined, page.document].filter((t): t is EventTarget => t != null)
    this.relays = init.relays.map(address => {
      const ma = multiaddr(address)
      const peer = ma.getComponents().findLast(c => c.name === 'p2p')?.value
      if (peer == null) {
        throw new TypeError(`Relay address ${address} has no /p2p/<peer id>`)
      }
      return { address, ma, peer, reserved: false, dialing: false, nextDial: 0, backoff: new Backoff(init.minBackoff ?? 500, init.maxBackoff ?? 15_000) }
    })
  }

  readonly [Symbol.toStringTag] = 'libp2p-messenger/relay-keeper'

  /** Every configured relay and whether we hold a reservation on it now. */
  status (): RelayStatus[] {
    return this.relays.map(r => ({ address: r.address, reserved: r.reserved, ...(r.error != null ? { error: r.error } : {}) }))
  }

  async waitOnline (options: AbortOptions & { timeout?: number } = {}): Promise<void> {
    options.signal?.throwIfAborted()
    if (this.online) {
      return
    }
    const waited = options.timeout ?? DEFAULT_ONLINE_TIMEOUT
    const timed = timedSignal(waited, options.signal, () => new RelayUnreachableError(this.status().map(r => ({ address: r.address, error: r.error })), waited))
    const stopped = this.controller.signal
    let cleanup = (): void => {}
    try {
      await new Promise<void>((resolve, reject) => {
        const onChange = (): void => { if (this.online) { resolve() } }
        const onAbort = (): void => { reject(timed.signal.reason) }
        const onStop = (): void => { reject(new Error('The relay keeper was stopped')) }
        this.addEventListener('reservation:change', onChange)
        timed.signal.addEventListener('abort', onAbort, { once: true })
        stopped.addEventListener('abort', onStop, { once: true })
        cleanup = () => {
          this.removeEventListener('reservation:change', onChange)
          timed.signal.removeEventListener('abort', onAbort)
          stopped.removeEventListener('abort', onStop)
        }
        if (stopped.aborted) {
          onStop()
        }
      })
    } finally {
      cleanup()
      timed.clear()
    }
  }

  /** True while at least one reservation is held. */
  get online (): boolean {
    return this.relays.some(r => r.reserved)
  }

  start (): void {
    const events = this.components.events
    events.addEventListener('transport:listening', this.onEvent)
    events.addEventListener('connection:close', this.onEvent)
    events.addEventListener('connection:open', this.onEvent)
    events.addEventListener('self:peer:update', this.onEvent)
    this.timer = setInterval(() => { this.checkAll() }, this.checkInterval)
    for (const target of this.pageEvents) {
      for (const type of PAGE_EVENTS) {
        target.addEventListener(type, this.onPageEvent)
      }
    }
  }

  /** The network may be back: forget the backoff of every relay without a reservation and check now. */
  private dialNow (): void {
    for (const relay of this.relays) {
      if (!relay.reserved) {
        relay.nextDial = 0
        relay.backoff.reset()
      }
    }
    this.checkAll()
  }

  afterStart (): void {
    this.checkAll()
  }

  stop (): void {
    const events = this.components.events
    events.removeEventListener('transport:listening', this.onEvent)
    events.removeEventListener('connection:close', this.onEvent)
    events.removeEventListener('connection:open', this.onEvent)
    events.removeEventListener('self:peer:update', this.onEvent)
    clearInterval(this.timer)
    for (const target of this.pageEvents) {
      for (const type of PAGE_EVENTS) {
        target.removeEventListener(type, this.onPageEvent)
      }
    }
    this.controller.abort()
  }

  /** Check every relay now (also runs on events and on a timer). */
  checkAll (): void {
    if (this.controller.signal.aborted) {
      return
    }
    const addresses = this.components.addressManager.getAddresses().map(a => a.toString())
    for (const relay of this.relays) {
      this.check(relay, addresses)
    }
  }

  private check (relay: Relay, addresses: string[]): void {
    const marker = `/p2p/${relay.peer}/p2p-circuit`
    const reserved = addresses.some(a => a.includes(marker))
    if (reserved !== relay.reserved) {
      relay.reserved = reserved
      if (reserved) {
        relay.backoff.reset()
        relay.error = undefined
      }
      this.log('%s reservation on %s', reserved ? 'holding a' : 'lost the', relay.address)
      this.safeDispatchEvent('reservation:change', { detail: { address: relay.address, reserved } })
    }
    if (reserved || relay.dialing) {
      return
    }
    const connected = this.components.connectionManager.getConnections().some(c => c.remotePeer.toString() === relay.peer && c.status === 'open')
    const now = Date.now()
    if (connected) {
      relay.connectedSince ??= now
      if (now - relay.connectedSince < DEFAULT_RESERVATION_GRACE) {
        return
      }
      // connected but no reservation came of it: start over
      relay.error = `connected for ${Math.round((now - relay.connectedSince) / 1000)} s without a reservation: is it a circuit relay v2 server with room for one more?`
      for (const conn of this.components.connectionManager.getConnections()) {
        if (conn.remotePeer.toString() === relay.peer) {
          conn.abort(new Error('No reservation on this relay connection'))
        }
      }
    }
    relay.connectedSince = undefined
    if (now < relay.nextDial) {
      return
    }
    relay.dialing = true
    const timed = timedSignal(this.dialTimeout, this.controller.signal)
    this.components.connectionManager.openConnection(relay.ma, { signal: timed.signal })
      .then(() => { relay.connectedSince = Date.now() })
      // a failed WebSocket dial can reject with a plain Event, not an Error
      .catch((err) => {
        relay.nextDial = Date.now() + relay.backoff.next()
        relay.error = errorMessage(err)
        this.log('could not reach relay %s, next try in %d ms - %s', relay.address, relay.nextDial - Date.now(), errorMessage(err))
      })
      .finally(() => {
        timed.clear()
        relay.dialing = false
      })
  }
}

/** The relay keeper as a js-libp2p service factory. */
export function relayKeeper (init: RelayKeeperInit): (components: RelayKeeperComponents) => RelayKeeper {
  return (components) => new RelayKeeperImpl(components, init)
}
