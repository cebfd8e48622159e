/**
 * Stubbed js-libp2p components for unit tests of the browser services
 * (relay keeper, direct upgrade, room discovery, rejoin): just what their
 * `*Components` interfaces ask for, with everything a test needs to drive
 * them and to see what they did.
 *
 * - `FakeEvents`: the node's event bus (a real `TypedEventEmitter`) that also
 *   counts its listeners, so a test can check that `stop()` removed them all.
 * - `FakeConnectionManager`: connections the test opens and closes (firing
 *   `connection:open` / `connection:close` as libp2p does), and dials the
 *   test settles by hand or through `onDial`; a dial rejects with the signal's
 *   reason when its signal aborts, as libp2p's do.
 * - `FakeAddressManager`, `FakePubSub`, `fakeConnection`, `fakeStream`.
 *
 * None of them starts a timer, so with a fake clock (see clock.ts)
 * `clock.pending()` counts only the service's own timers.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import type { AbortOptions, ComponentLogger, Connection, ConnectionLimits, Libp2pEvents, Logger, PeerId } from '@libp2p/interface'

// ---------------------------------------------------------------- peer ids

/**
 * `n` Ed25519 peer ids (with public keys, as pubsub-peer-discovery needs),
 * derived from fixed seeds so every run sees the same ids in the same order.
 */
export async function peerIds (n: number, seed = 1): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: n }, async (_, i) =>
    peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill((seed + i) % 256)))))
}

/** Two peer ids, the one whose string sorts first (the "smaller" id, which dials first) first. */
export async function orderedPair (seed = 1): Promise<[PeerId, PeerId]> {
  const [x, y] = await peerIds(2, seed)
  return x.toString() < y.toString() ? [x, y] : [y, x]
}

// ---------------------------------------------------------------- logging

/** A logger that says nothing (for components that take `logger`). */
export function silentLogger (): ComponentLogger {
  const log = (): Logger => Object.assign(() => {}, { error () {}, trace () {}, enabled: false, newScope: log })
  return { forComponent: log }
}

// ---------------------------------------------------------------- addresses

/** A relay's own address, as configured: `/ip4/…/tcp/…/ws/p2p/<relay>`. */
export function relayAddress (relay: PeerId, port = 4001): string {
  return `/ip4/127.0.0.1/tcp/${port}/ws/p2p/${relay.toString()}`
}

/** `peer`'s address through `relay`: `<relay address>/p2p-circuit/p2p/<peer>`. */
export function circuitAddress (relay: PeerId, peer: PeerId, port = 4001): Multiaddr {
  return multiaddr(`${relayAddress(relay, port)}/p2p-circuit/p2p/${peer.toString()}`)
}

/** `peer`'s WebRTC address through `relay`: `<relay address>/p2p-circuit/webrtc/p2p/<peer>`. */
export function webrtcCircuitAddress (relay: PeerId, peer: PeerId, port = 4001): Multiaddr {
  return multiaddr(`${relayAddress(relay, port)}/p2p-circuit/webrtc/p2p/${peer.toString()}`)
}

/** The last `/p2p/<id>` of an address: the peer it leads to. */
export function lastPeer (ma: Multiaddr): PeerId {
  const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
  if (id == null) {
    throw new TypeError(`${ma.toString()} names no peer`)
  }
  return peerIdFromString(id)
}

// ---------------------------------------------------------------- events

/** The node's event bus; knows how many listeners are registered in all. */
export class FakeEvents extends TypedEventEmitter<Libp2pEvents> {
  private readonly types = new Set<string>()

  override addEventListener (type: any, listener: any, options?: any): void {
    this.types.add(type)
    super.addEventListener(type, listener, options)
  }

  /** Listeners registered now, over every event type. */
  listenerTotal (): number {
    let total = 0
    for (const type of this.types) {
      total += this.listenerCount(type)
    }
    return total
  }

  /** What the address manager fires when our addresses change. */
  selfUpdate (): void {
    this.dispatchEvent(new CustomEvent('self:peer:update', { detail: {} }))
  }

  /** What the transport manager fires when a listener (e.g. a reservation) is up. */
  listening (): void {
    this.dispatchEvent(new CustomEvent('transport:listening', { detail: {} }))
  }
}

// ---------------------------------------------------------------- streams and connections

export interface FakeStream {
  protocol: string
  direction: 'inbound' | 'outbound'
  status: 'open' | 'closed'
}

export function fakeStream (protocol: string, direction: 'inbound' | 'outbound' = 'inbound'): FakeStream {
  return { protocol, direction, status: 'open' }
}

/** A stand-in for a WebRTC connection's RTCPeerConnection: only its state is read. */
export interface FakePeerConnection {
  connectionState: RTCPeerConnectionState
  addEventListener(type: string, listener: () => void): void
  removeEventListener(type: string, listener: () => void): void
}

export interface FakeConnectionInit {
  remotePeer: PeerId
  remoteAddr: Multiaddr
  /** @default true when the address has `/webrtc`, else false */
  direct?: boolean
  /** Relayed connections are limited. @default set when the address is a circuit without `/webrtc` */
  limits?: ConnectionLimits
  /** For direct connections: the RTCPeerConnection's state. @default 'connected' */
  peerConnectionState?: RTCPeerConnectionState
  streams?: FakeStream[]
}

/** A fake `Connection` plus the handles a test pulls. */
export type FakeConnection = Connection & {
  /** Set when `abort()` or `close()` was called on it. */
  closedWith?: Error | 'close'
  /** The RTCPeerConnection stand-in of a direct connection (at `maConn.peerConnection`, where `usable()` reads it). */
  peerConnection?: FakePeerConnection
  /** Called by `abort()`/`close()`; the connection manager sets it to drop the connection. */
  onClose?: () => void
}

let nextConnectionId = 0

export function fakeConnection (init: FakeConnectionInit): FakeConnection {
  const text = init.remoteAddr.toString()
  const direct = init.direct ?? text.includes('/webrtc')
  const peerConnection: FakePeerConnection | undefined = direct
    ? { connectionState: init.peerConnectionState ?? 'connected', addEventListener () {}, removeEventListener () {} }
    : undefined
  const events = new TypedEventEmitter<any>()
  const conn: any = Object.assign(events, {
    id: `fake-${nextConnectionId++}`,
    remotePeer: init.remotePeer,
    remoteAddr: init.remoteAddr,
    direction: 'outbound',
    direct,
    limits: init.limits ?? (!direct && text.includes('/p2p-circuit') ? { seconds: 120, bytes: 131_072n } : undefined),
    status: 'open',
    streams: init.streams ?? [],
    timeline: { open: Date.now() },
    log: silentLogger().forComponent('test:fake-connection'),
    maConn: peerConnection != null ? { peerConnection } : {},
    peerConnection,
    async newStream () { throw new Error('fake connection: no streams') },
    async close () {
      conn.closedWith ??= 'close'
      conn.onClose?.()
    },
    abort (err: Error) {
      conn.closedWith ??= err
      conn.onClose?.()
    }
  })
  return conn as FakeConnection
}

// ---------------------------------------------------------------- connection manager

/** One call of `openConnection`, for the test to look at and settle. */
export interface Dial {
  address: Multiaddr
  options: AbortOptions & { force?: boolean }
  /** Simulated time of the call. */
  at: number
  settled: boolean
  /** Succeed with `conn` (default: a new connection to the dialed peer over the dialed address), opened first. */
  succeed(conn?: FakeConnection): FakeConnection
  fail(err?: unknown): void
}

export class FakeConnectionManager {
  readonly connections: FakeConnection[] = []
  readonly dials: Dial[] = []
  /** Runs on each dial as it starts: settle it here for an automatic answer; leave it for a dial that hangs. */
  onDial?: (dial: Dial) => void

  constructor (private readonly events: FakeEvents) {}

  getConnections (peer?: PeerId): Connection[] {
    return this.connections.filter(c => peer == null || c.remotePeer.equals(peer))
  }

  async openConnection (address: Multiaddr, options: AbortOptions & { force?: boolean } = {}): Promise<Connection> {
    let resolve!: (conn: Connection) => void
    let reject!: (err: unknown) => void
    const result = new Promise<Connection>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
    const signal = options.signal
    const onAbort = (): void => { dial.fail(signal?.reason) }
    const dial: Dial = {
      address,
      options,
      at: Date.now(),
      settled: false,
      succeed: (conn) => {
        if (dial.settled) throw new Error('dial already settled')
        dial.settled = true
        signal?.removeEventListener('abort', onAbort)
        const c = conn ?? fakeConnection({ remotePeer: lastPeer(address), remoteAddr: address })
        if (!this.connections.includes(c)) this.open(c)
        resolve(c)
        return c
      },
      fail: (err = new Error('dial failed')) => {
        if (dial.settled) return
        dial.settled = true
        signal?.removeEventListener('abort', onAbort)
        reject(err)
      }
    }
    this.dials.push(dial)
    if (signal?.aborted === true) {
      dial.fail(signal.reason)
    } else {
      signal?.addEventListener('abort', onAbort, { once: true })
      this.onDial?.(dial)
    }
    return result
  }

  /** Dials so far whose address matches (a peer id or a substring of the address). */
  dialsTo (what?: PeerId | string): Dial[] {
    if (what == null) return this.dials
    const text = typeof what === 'string' ? what : `/p2p/${what.toString()}`
    return this.dials.filter(d => typeof what === 'string' ? d.address.toString().includes(text) : d.address.toString().endsWith(text))
  }

  /** Dials not settled yet. */
  unsettled (): Dial[] {
    return this.dials.filter(d => !d.settled)
  }

  /** A connection opens (inbound or outbound): `connection:open` fires. */
  open (conn: FakeConnection): FakeConnection {
    conn.onClose = () => { this.close(conn) }
    this.connections.push(conn)
    this.events.dispatchEvent(new CustomEvent('connection:open', { detail: conn }))
    return conn
  }

  /** A connection closes: it leaves the list, then `connection:close` fires. */
  close (conn: FakeConnection): void {
    const i = this.connections.indexOf(conn)
    if (i < 0) return
    this.connections.splice(i, 1)
    conn.status = 'closed'
    this.events.dispatchEvent(new CustomEvent('connection:close', { detail: conn }))
  }
}

// ---------------------------------------------------------------- address manager

export class FakeAddressManager {
  addresses: Multiaddr[] = []

  getAddresses (): Multiaddr[] {
    return [...this.addresses]
  }

  set (...addresses: Array<string | Multiaddr>): void {
    this.addresses = addresses.map(a => typeof a === 'string' ? multiaddr(a) : a)
  }
}

// ---------------------------------------------------------------- pubsub

export interface PubSubChange { peerId: PeerId, subscriptions: Array<{ topic: string, subscribe: boolean }> }

/** Just enough gossipsub: subscribers per topic, `subscription-change` events, and a record of what was published. */
export class FakePubSub extends TypedEventEmitter<{ 'subscription-change': CustomEvent<PubSubChange>, message: CustomEvent<any> }> {
  readonly subscribers = new Map<string, PeerId[]>()
  readonly published: Array<{ topic: string, data: Uint8Array, at: number }> = []
  readonly topics = new Set<string>()

  getSubscribers (topic: string): PeerId[] {
    return [...(this.subscribers.get(topic) ?? [])]
  }

  getTopics (): string[] {
    return [...this.topics]
  }

  subscribe (topic: string): void { this.topics.add(topic) }
  unsubscribe (topic: string): void { this.topics.delete(topic) }

  async publish (topic: string, data: Uint8Array): Promise<{ recipients: PeerId[] }> {
    this.published.push({ topic, data, at: Date.now() })
    return { recipients: this.getSubscribers(topic) }
  }

  /** `peer` subscribes to (or leaves) `topic`; `subscription-change` fires. */
  change (peer: PeerId, topic: string, subscribe = true): void {
    const list = (this.subscribers.get(topic) ?? []).filter(p => !p.equals(peer))
    if (subscribe) list.push(peer)
    this.subscribers.set(topic, list)
    this.dispatchEvent(new CustomEvent('subscription-change', { detail: { peerId: peer, subscriptions: [{ topic, subscribe }] } }))
  }

  /** Listeners registered now on either event. */
  listenerTotal (): number {
    return this.listenerCount('subscription-change') + this.listenerCount('message')
  }
}

// ---------------------------------------------------------------- all together

export interface FakeComponents {
  peerId: PeerId
  events: FakeEvents
  connectionManager: FakeConnectionManager
  addressManager: FakeAddressManager
  pubsub: FakePubSub
  logger: ComponentLogger
}

/** A node's components, for `service(components)`. */
export function fakeComponents (peerId: PeerId): FakeComponents {
  const events = new FakeEvents()
  return {
    peerId,
    events,
    connectionManager: new FakeConnectionManager(events),
    addressManager: new FakeAddressManager(),
    pubsub: new FakePubSub(),
    logger: silentLogger()
  }
}
