/**
 * A channel: one message type on one protocol id, with its own streams,
 * queues, limits and receive queue. The messenger itself is its default
 * channel; `messenger.channel(name, init)` adds more, so a slow or large
 * message type never blocks another.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { TypedEventEmitter } from 'main-event'
import { bestConnection, connectionKind, whenUsable } from './connections.js'
import {
  DEFAULT_ACK_DELAY, DEFAULT_HANDOVER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_INBOUND_MESSAGES, DEFAULT_MAX_INBOUND_STREAMS, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_MAX_QUEUED_MESSAGES, DEFAULT_MAX_UNACKED, DEFAULT_MIN_BACKOFF, DEFAULT_OPEN_TIMEOUT, DEFAULT_QUEUE_TTL
} from './constants.js'
import { MessageTooLargeError, MessengerStoppedError } from '../errors.js'
import { frame } from './framing.js'
import { InboundLane } from './inbound-lane.js'
import { Inbox } from './inbox.js'
import { LARGE_PAYLOAD, OutboundLane } from './outbound-lane.js'
import { PeerHandle } from './peer.js'
import type { Codec } from './codec.js'
import type { LaneStore } from './store.js'
import type { ConnectionKind } from './connections.js'
import type { ChannelEvents, ConnectionDetail, DropDetail, ErrorDetail, RangeDetail } from './events.js'
import type { InboundHost, InboundOptions, Receipt } from './inbound-lane.js'
import type { Received } from './inbox.js'
import type { Budget, DropReason, LaneHost, LaneNode, LaneOptions, QueuePolicy } from './outbound-lane.js'
import type { Peer } from './peer.js'
import type { AbortOptions, ComponentLogger, Connection, ConnectionLimits, Libp2p, Logger, PeerId, Stream } from '@libp2p/interface'

/** The parts of a libp2p node the messenger uses. */
export type MessengerNode = Pick<Libp2p, 'peerId' | 'getConnections' | 'dial' | 'handle' | 'unhandle' | 'register' | 'unregister' | 'addEventListener' | 'removeEventListener' | 'peerStore'> & {
  /** The node's component logger (every libp2p node has one): logs go to `libp2p-messenger:*`. */
  logger?: ComponentLogger
}

/** Delivery modes. */
export type Delivery = 'default' | 'confirmed'

/** Options shared by the messenger and its channels. */
export interface ChannelOptions {
  /**
   * Largest encoded message in bytes. Sending a larger one throws
   * `MessageTooLargeError`; receiving one resets the stream before allocating.
   *
   * @default 1 MiB
   */
  maxMessageSize?: number
  /**
   * `'default'`: only the user's bytes on the wire; a message handed to a
   * stream that then breaks can be lost (see the README for the bound).
   * `'confirmed'`: sequence numbers and acknowledgements on their own protocol
   * id (`<protocol>/confirmed`); every message reaches the application once, in
   * order, across reconnects; `delivered` events.
   *
   * @default 'default'
   */
  delivery?: Delivery
  /**
   * Among the channels of one messenger, to the same peer, a channel with a
   * higher priority writes first.
   *
   * @default 0
   */
  priority?: number
  /** @default 10_000 messages per peer */
  maxQueuedMessages?: number
  /** @default 16 MiB per peer */
  maxQueuedBytes?: number
  /**
   * When a peer's queue is full: drop the new message (`'drop-newest'`), drop
   * the oldest unsent one (`'drop-oldest'`), or throw `QueueFullError` from
   * `send()` (`'error'`). Drops are reported with a `drop` event.
   *
   * @default 'drop-newest'
   */
  queuePolicy?: QueuePolicy
  /** How long queued messages wait for an unreachable peer; `Infinity` keeps them. @default 10 min */
  queueTtl?: number
  /** Close an outbound stream after this long without messages. @default 60 s */
  idleTimeout?: number
  /** Bytes per `stream.send()` batch. @default 256 KiB */
  maxBatchBytes?: number
  /** Received messages buffered per peer before that peer's streams pause. @default 1_000 */
  maxInboundMessages?: number
  /** Received bytes buffered per peer before that peer's streams pause. @default 16 MiB */
  maxInboundBytes?: number
  /** Inbound streams per connection on this protocol. @default 8 */
  maxInboundStreams?: number
  /** @default 5 s */
  handoverTimeout?: number
  /** @default 250 ms */
  minBackoff?: number
  /** @default 15 s */
  maxBackoff?: number
  /** @default 10 s */
  openTimeout?: number
  /** Confirmed mode: unacknowledged messages in flight per peer. @default 1_000 */
  maxUnacked?: number
  /** Confirmed mode: longest delay before an acknowledgement. @default 20 ms */
  ackDelay?: number
}

export interface ChannelInit<T> extends ChannelOptions {
  codec: Codec<T>
  /** Protocol id; for a named channel it defaults to `<messenger protocol>/<name>`. */
  protocol?: string
  /**
   * With a durable outbox on the messenger: store this channel's queued
   * messages there. `false` keeps them in memory only (for traffic that has
   * its own recovery, such as file transfers, whose chunks must not fill the
   * outbox).
   *
   * @default true
   */
  durable?: boolean
}

/** Where confirmed-mode receivers keep what the application has taken. */
export interface ReceiptStore {
  get(key: string): Receipt | undefined
  set(key: string, receipt: Receipt): void
}

/** What channels share: the node, the byte budget, the stop signal, priorities. */
export interface ChannelContext {
  readonly node: MessengerNode
  readonly budget: Budget
  readonly signal: AbortSignal
  readonly receipts: ReceiptStore
  readonly log: Logger
  /** Resolves once `check()` holds (tried again whenever a queue shrinks), or rejects on stop or abort. */
  whenRoom(check: () => boolean, signal?: AbortSignal): Promise<void>
  /** A queue shrank: room waiters look again. */
  shrunk(): void
  /** Lanes to one peer, across channels, for priorities. */
  waitTurn(lane: OutboundLane, priority: number): Promise<void> | undefined
  laneDrained(lane: OutboundLane): void
  track(lane: OutboundLane, priority: number, add: boolean): void
}

export interface Channel<T> extends AsyncIterable<Received<T>> {
  /** The channel's name (`'default'` for the messenger itself). */
  readonly name: string
  /** The protocol id on the wire. */
  readonly protocol: string
  /**
   * Queue `message` to `peer` and return at once. The stream is opened (and
   * the peer dialed) as needed. Returns the message's sequence number on this
   * peer's lane (used by `sent`, `delivered` and `drop` events), or -1 when the
   * queue policy dropped it (a `drop` event says so).
   *
   * `peer` is a `PeerId` or its string form. A peer whose addresses are not
   * known is dialed by id: the browser node finds it through its relays.
   *
   * A full queue refuses the message (returns -1) unless `queuePolicy` says
   * otherwise; pace a sender with `pending(peer)` or `await waitForRoom(peer)`.
   *
   * @throws MessageTooLargeError when the encoded message exceeds `maxMessageSize`
   * @throws QueueFullError with the `'error'` queue policy and a full queue
   */
  send(peer: PeerId | string, message: T): number
  /** Queue `message` to every peer connected now that speaks the protocol; returns those peers. */
  broadcast(message: T): PeerId[]
  /** The next message from any peer without a handle. */
  receive(options?: AbortOptions): Promise<Received<T>>
  /** Peers connected now that speak the protocol. */
  peers(): PeerId[]
  /**
   * How `peer` is reached now: `'direct'`, `'relayed'`, or undefined when it
   * is not connected. A `connection` event says when this changes.
   */
  connection(peer: PeerId | string): ConnectionKind | undefined
  /**
   * What is left of the limits of the connection `peer` is reached on now (a
   * relay's limited circuit: bytes and seconds remaining, shared by every
   * protocol on it), or undefined when it has none or `peer` is not connected.
   */
  limits(peer: PeerId | string): ConnectionLimits | undefined
  /** A handle for one peer; the same handle while it is open. It takes the peer's messages once it receives. */
  peer(id: PeerId | string): Peer<T>
  /** Messages queued and not yet sent (confirmed mode: not yet acknowledged), to one peer or in all. */
  pending(peer?: PeerId | string): number
  /**
   * Resolves once `peer`'s queue can take more: at most half full (messages
   * and bytes, and the messenger's total). At once if it is.
   *
   * @throws MessengerStoppedError when the messenger stops; the signal's reason when it aborts
   */
  waitForRoom(peer: PeerId | string, options?: AbortOptions): Promise<void>
  addEventListener: TypedEventEmitter<ChannelEvents>['addEventListener']
  removeEventListener: TypedEventEmitter<ChannelEvents>['removeEventListener']
}

/** A `PeerId`, from itself or its string form. */
function toPeerId (peer: PeerId | string): PeerId {
  return typeof peer === 'string' ? peerIdFromString(peer) : peer
}

/** Idle lanes whose sequence position is remembered (a few numbers each). */
const MAX_RETIRED_LANES = 10_000

interface PendingDrop {
  lane: OutboundLane
  reason: DropReason
  unconfirmed: boolean
  first?: number
  last?: number
  count: number
  error?: Error
}

export class ChannelImpl<T> extends TypedEventEmitter<ChannelEvents> implements Channel<T>, LaneHost, InboundHost<T> {
  readonly name: string
  readonly protocol: string
  readonly codec: Codec<T>
  readonly delivery: Delivery
  readonly priority: number
  readonly node: LaneNode
  readonly budget: Budget
  readonly signal: AbortSignal
  readonly log: Logger
  readonly inbox = new Inbox<T>()
  store?: LaneStore

  private readonly ctx: ChannelContext
  private readonly maxMessageSize: number
  private readonly laneOptions: LaneOptions
  private readonly inboundOptions: InboundOptions
  private readonly maxInboundStreams: number
  private readonly outbound = new Map<string, OutboundLane>()
  /** the sequence position of lanes forgotten while idle (most recent last) */
  private readonly retired = new Map<string, { nextSeq: number, epoch: Uint8Array }>()
  private readonly inbound = new Map<string, InboundLane<T>>()
  private readonly handles = new Map<string, PeerHandle<T>>()
  private readonly members = new Map<string, PeerId>()
  private readonly encodeInto: boolean
  private topologyId?: string
  private stopped = false
  private pendingDrops: PendingDrop[] = []
  private readonly onConnectionOpen: (evt: CustomEvent<Connection>) => void
  private readonly onConnectionClose: (evt: CustomEvent<Connection>) => void
  /** How each member is reached, as last told by a `connection` event. */
  private readonly kinds = new Map<string, ConnectionKind>()

  constructor (ctx: ChannelContext, name: string, protocol: string, init: ChannelInit<T>) {
    super()
    this.ctx = ctx
    this.name = name
    this.codec = init.codec
    this.delivery = init.delivery ?? 'default'
    this.protocol = this.delivery === 'confirmed' ? `${protocol}/confirmed` : protocol
    this.priority = init.priority ?? 0
    this.node = ctx.node
    this.budget = ctx.budget
    this.signal = ctx.signal
    this.log = name === 'default' ? ctx.log : ctx.log.newScope(name)
    this.maxMessageSize = init.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE
    this.encodeInto = this.codec.encodingLength != null && this.codec.encodeInto != null
    this.maxInboundStreams = init.maxInboundStreams ?? DEFAULT_MAX_INBOUND_STREAMS
    const confirmed = this.delivery === 'confirmed'
    this.laneOptions = {
      protocol: this.protocol,
      confirmed,
      maxQueuedMessages: init.maxQueuedMessages ?? DEFAULT_MAX_QUEUED_MESSAGES,
      maxQueuedBytes: init.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
      maxBatchBytes: init.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES,
      idleTimeout: init.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
      minBackoff: init.minBackoff ?? DEFAULT_MIN_BACKOFF,
      maxBackoff: init.maxBackoff ?? DEFAULT_MAX_BACKOFF,
      openTimeout: init.openTimeout ?? DEFAULT_OPEN_TIMEOUT,
      queueTtl: init.queueTtl ?? DEFAULT_QUEUE_TTL,
      maxUnacked: init.maxUnacked ?? DEFAULT_MAX_UNACKED,
      policy: init.queuePolicy ?? 'drop-newest'
    }
    this.inboundOptions = {
      maxMessageSize: this.maxMessageSize,
      confirmed,
      handoverTimeout: init.handoverTimeout ?? DEFAULT_HANDOVER_TIMEOUT,
      maxInboundMessages: init.maxInboundMessages ?? DEFAULT_MAX_INBOUND_MESSAGES,
      maxInboundBytes: init.maxInboundBytes ?? DEFAULT_MAX_QUEUED_BYTES,
      ackDelay: init.ackDelay ?? DEFAULT_ACK_DELAY
    }
    this.onConnectionOpen = (evt) => { this.connectionOpened(evt.detail) }
    // a closing connection ranks nothing: the peer's best one is what is left
    this.onConnectionClose = (evt) => { this.updateKind(evt.detail.remotePeer) }
  }

  /** Register the protocol handler and the topology; find peers already connected. */
  async start (): Promise<void> {
    const node = this.ctx.node
    node.addEventListener('connection:open', this.onConnectionOpen)
    node.addEventListener('connection:close', this.onConnectionClose)
    await node.handle(this.protocol, (stream, connection) => { this.inboundStream(stream, connection) }, {
      runOnLimitedConnection: true,
      maxInboundStreams: this.maxInboundStreams,
      signal: this.signal
    })
    this.topologyId = await node.register(this.protocol, {
      notifyOnLimitedConnection: true,
      onConnect: (peer) => { this.join(peer) },
      onDisconnect: (peer) => { this.leave(peer) }
    })
    if (this.stopped) {
      node.unregister(this.topologyId)
      return
    }
    for (const conn of node.getConnections()) {
      if (conn.status !== 'open' || this.members.has(conn.remotePeer.toString())) {
        continue
      }
      try {
        const peer = await node.peerStore.get(conn.remotePeer, { signal: this.signal })
        if (peer.protocols.includes(this.protocol)) {
          this.join(conn.remotePeer)
        }
      } catch (err) {
        this.log.trace('no protocols known yet for %p - %e', conn.remotePeer, err)
      }
    }
  }

  send (to: PeerId | string, message: T): number {
    if (this.stopped) {
      throw new MessengerStoppedError()
    }
    const peer = toPeerId(to)
    const lane = this.outbound.get(peer.toString()) ?? this.createLane(peer)
    let seq: number
    if (this.encodeInto) {
      const length = (this.codec.encodingLength as (value: T) => number)(message)
      if (length > this.maxMessageSize) {
        throw new MessageTooLargeError(length, this.maxMessageSize)
      }
      // large messages are encoded on their own and queued by reference
      seq = lane.enqueue(message, this.codec, length, length > LARGE_PAYLOAD ? this.codec.encode(message) : undefined)
    } else {
      const encoded = this.codec.encode(message)
      if (encoded.byteLength > this.maxMessageSize) {
        throw new MessageTooLargeError(encoded.byteLength, this.maxMessageSize)
      }
      seq = lane.enqueue(message, this.codec, encoded.byteLength, encoded)
    }
    if (seq > 0) {
      this.store?.changed(lane, this.protocol)
    }
    return seq
  }

  broadcast (message: T): PeerId[] {
    if (this.stopped) {
      throw new MessengerStoppedError()
    }
    const peers = this.peers()
    if (peers.length === 0) {
      return peers
    }
    const encoded = this.codec.encode(message)
    if (encoded.byteLength > this.maxMessageSize) {
      throw new MessageTooLargeError(encoded.byteLength, this.maxMessageSize)
    }
    // default mode: one frame, shared by every peer's queue
    const shared = this.laneOptions.confirmed || this.store != null ? undefined : frame(encoded)
    const queued: PeerId[] = []
    for (const peer of peers) {
      const lane = this.outbound.get(peer.toString()) ?? this.createLane(peer)
      const seq = shared != null ? lane.enqueueFrame(shared) : lane.enqueue(message, this.codec, encoded.byteLength, encoded)
      if (seq > 0) {
        queued.push(peer)
        this.store?.changed(lane, this.protocol)
      }
    }
    return queued
  }

  async receive (options?: AbortOptions): Promise<Received<T>> {
    return this.inbox.receive(options)
  }

  [Symbol.asyncIterator] (): AsyncIterator<Received<T>> {
    return this.inbox[Symbol.asyncIterator]()
  }

  peers (): PeerId[] {
    return [...this.members.values()]
  }

  isMember (peer: PeerId): boolean {
    return this.members.has(peer.toString())
  }

  connection (peer: PeerId | string): ConnectionKind | undefined {
    return this.connectionKind(toPeerId(peer))
  }

  limits (peer: PeerId | string): ConnectionLimits | undefined {
    const id = toPeerId(peer)
    if (!this.isMember(id)) {
      return undefined
    }
    return bestConnection(this.ctx.node.getConnections(id))?.limits
  }

  connectionKind (peer: PeerId): ConnectionKind | undefined {
    if (!this.isMember(peer)) {
      return undefined
    }
    const conn = bestConnection(this.ctx.node.getConnections(peer))
    return conn != null ? connectionKind(conn) : undefined
  }

  pending (peer?: PeerId | string): number {
    if (peer != null) {
      return this.outbound.get(peer.toString())?.queue.length ?? 0
    }
    let n = 0
    for (const lane of this.outbound.values()) {
      n += lane.queue.length
    }
    return n
  }

  async waitForRoom (peer: PeerId | string, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    if (this.stopped) {
      throw new MessengerStoppedError()
    }
    const key = peer.toString()
    const hasRoom = (): boolean => {
      const lane = this.outbound.get(key)
      return lane == null || lane.hasRoom()
    }
    await this.ctx.whenRoom(hasRoom, options.signal)
  }

  peer (id: PeerId | string): Peer<T> {
    const key = id.toString()
    let handle = this.handles.get(key)
    if (handle == null) {
      handle = new PeerHandle<T>(toPeerId(id), this)
      this.handles.set(key, handle)
    }
    return handle
  }

  /** A handle started receiving: this peer's buffered messages move to it. */
  capture (handle: PeerHandle<T>): void {
    if (this.handles.get(handle.id.toString()) === handle) {
      this.inbox.moveTo(handle.inbox, (item) => item.from.equals(handle.id))
    }
  }

  /** A handle was closed: its buffered messages go back to the channel-wide queue. */
  release (handle: PeerHandle<T>): void {
    const key = handle.id.toString()
    if (this.handles.get(key) !== handle) {
      return
    }
    this.handles.delete(key)
    handle.inbox.moveTo(this.inbox, () => true)
    handle.inbox.close()
  }

  /** A lane for `peer`, restored from the durable outbox when there is one. */
  lane (peer: PeerId): OutboundLane {
    return this.outbound.get(peer.toString()) ?? this.createLane(peer)
  }

  async stop (keepQueued = false): Promise<void> {
    if (this.stopped) {
      return
    }
    this.stopped = true
    const node = this.ctx.node
    node.removeEventListener('connection:open', this.onConnectionOpen)
    node.removeEventListener('connection:close', this.onConnectionClose)
    if (this.topologyId != null) {
      node.unregister(this.topologyId)
    }
    for (const lane of this.outbound.values()) {
      lane.stop(keepQueued)
      this.ctx.track(lane, this.priority, false)
    }
    this.flushDrops()
    this.outbound.clear()
    for (const lane of this.inbound.values()) {
      lane.stop()
    }
    this.inbound.clear()
    const err = new MessengerStoppedError()
    this.inbox.close(err)
    for (const handle of this.handles.values()) {
      handle.inbox.close(err)
    }
    this.handles.clear()
    this.members.clear()
    this.kinds.clear()
    await node.unhandle(this.protocol).catch((err) => { this.log.error('could not unregister %s - %e', this.protocol, err) })
  }

  // --- LaneHost ---

  waitTurn (lane: OutboundLane): Promise<void> | undefined {
    return this.ctx.waitTurn(lane, this.priority)
  }

  sent (lane: OutboundLane, first: number, last: number): void {
    if (this.laneOptions.confirmed) {
      this.store?.written(lane)
    } else {
      this.store?.changed(lane, this.protocol)
    }
    this.emit(lane.peer, 'sent', { peer: lane.peer, channel: this.name, first, last })
  }

  delivered (lane: OutboundLane, first: number, last: number): void {
    this.store?.changed(lane, this.protocol)
    this.emit(lane.peer, 'delivered', { peer: lane.peer, channel: this.name, first, last })
  }

  dropped (lane: OutboundLane, first: number | undefined, last: number | undefined, count: number, reason: DropReason, error?: Error, unconfirmed = false): void {
    if (reason !== 'stopped' && reason !== 'unsaved' && first != null) {
      this.store?.changed(lane, this.protocol)
    }
    // coalesce: a flood of drops becomes one event per peer and reason; numbered
    // ranges only when they are adjacent, so an event never names a message it did not drop
    const prev = this.pendingDrops[this.pendingDrops.length - 1]
    if (prev != null && prev.lane === lane && prev.reason === reason && prev.unconfirmed === unconfirmed) {
      if (first == null && prev.first == null) {
        prev.count += count
        return
      }
      if (first != null && prev.first != null && prev.last != null && prev.last + 1 === first) {
        prev.last = last
        prev.count += count
        return
      }
    }
    if (this.pendingDrops.length === 0) {
      queueMicrotask(() => { this.flushDrops() })
    }
    this.pendingDrops.push({ lane, reason, first, last, count, error, unconfirmed })
  }

  error (lane: OutboundLane | InboundLane<T>, err: Error): void {
    this.log.error('%p - %e', lane.peer, err)
    this.emit(lane.peer, 'error', { peer: lane.peer, channel: this.name, error: err })
  }

  idle (lane: OutboundLane | InboundLane<T>): void {
    const key = lane.peer.toString()
    if (lane instanceof OutboundLane) {
      if (this.outbound.get(key) === lane && lane.queue.length === 0) {
        this.outbound.delete(key)
        this.retired.set(key, { nextSeq: lane.nextSeq, epoch: lane.epoch })
        if (this.retired.size > MAX_RETIRED_LANES) {
          this.retired.delete(this.retired.keys().next().value as string)
        }
        this.ctx.track(lane, this.priority, false)
        this.store?.detach(lane)
      }
    } else if (this.inbound.get(key) === lane) {
      this.inbound.delete(key)
    }
  }

  drained (lane: OutboundLane): void {
    this.ctx.laneDrained(lane)
  }

  shrunk (): void {
    this.ctx.shrunk()
  }

  // --- InboundHost ---

  deliver (lane: InboundLane<T>, value: T, seq: number, bytes: number): void {
    const from = lane.peer
    const item: Received<T> = { from, data: value, channel: this.name, protocol: this.protocol }
    const handle = this.handles.size > 0 ? this.handles.get(from.toString()) : undefined
    ;(handle?.receiving === true ? handle.inbox : this.inbox).push(item, lane.source, seq, bytes)
  }

  loadReceipt (peer: PeerId): Receipt | undefined {
    return this.ctx.receipts.get(`${this.protocol}|${peer.toString()}`)
  }

  saveReceipt (peer: PeerId, receipt: Receipt): void {
    this.ctx.receipts.set(`${this.protocol}|${peer.toString()}`, receipt)
  }

  // --- internals ---

  private createLane (peer: PeerId): OutboundLane {
    const restored = this.store?.restore(this.protocol, peer)
    // a lane forgotten while idle comes back with its numbers: a sequence number is never handed out twice
    const retired = this.retired.get(peer.toString())
    this.retired.delete(peer.toString())
    const lane = new OutboundLane(peer, this, this.laneOptions, restored?.nextSeq ?? retired?.nextSeq ?? 1, restored?.epoch ?? retired?.epoch)
    this.outbound.set(peer.toString(), lane)
    this.ctx.track(lane, this.priority, true)
    if (restored != null) {
      lane.highestWritten = Math.max(lane.highestWritten, restored.written ?? 0)
      if (restored.records.length > 0) {
        lane.restore(restored.records, restored.nextSeq)
      }
      // numbers handed out before a restart whose messages never reached storage
      for (const [first, last, unconfirmed] of restored.lost) {
        this.dropped(lane, first, last, last - first + 1, 'unsaved', undefined, unconfirmed)
      }
      this.store?.changed(lane, this.protocol)
    }
    return lane
  }

  /** Lanes with messages left by a previous session start sending now. */
  restoreLanes (): void {
    for (const peer of this.store?.pendingRestored(this.protocol) ?? []) {
      try {
        this.lane(peerIdFromString(peer))
      } catch (err) {
        this.log.error('could not restore the lane to %s - %e', peer, err)
      }
    }
  }

  private inboundStream (stream: Stream, connection: Connection): void {
    if (this.stopped) {
      stream.abort(new MessengerStoppedError())
      return
    }
    const peer = connection.remotePeer
    const key = peer.toString()
    let lane = this.inbound.get(key)
    if (lane == null) {
      lane = new InboundLane<T>(peer, this, this.inboundOptions)
      this.inbound.set(key, lane)
    }
    lane.add(stream)
    // a stream on our protocol proves the peer speaks it
    this.join(peer)
  }

  /** A connection can carry streams (again): its peer's lane may move to it. */
  connectionUsable (conn: Connection): void {
    this.connectionOpened(conn)
  }

  private connectionOpened (conn: Connection): void {
    // a direct connection may open before its ICE connects: tell the lane when it can be used
    whenUsable(conn, this.signal, () => {
      const lane = this.outbound.get(conn.remotePeer.toString())
      lane?.connectionOpened(conn)
      this.updateKind(conn.remotePeer)
    })
  }

  /** Tell `connection` listeners when how `peer` is reached changed. */
  private updateKind (peer: PeerId): void {
    if (this.stopped) {
      return
    }
    const key = peer.toString()
    const kind = this.connectionKind(peer)
    if (kind === this.kinds.get(key)) {
      return
    }
    if (kind == null) {
      this.kinds.delete(key)
    } else {
      this.kinds.set(key, kind)
    }
    this.log('%p is reached %s', peer, kind ?? 'no more')
    this.emit(peer, 'connection', { peer, connection: kind })
  }

  private join (peer: PeerId): void {
    const key = peer.toString()
    if (this.stopped || this.members.has(key)) {
      return
    }
    this.members.set(key, peer)
    this.log('%p joined', peer)
    this.emit(peer, 'peer:join', peer)
    this.updateKind(peer)
  }

  private leave (peer: PeerId): void {
    const key = peer.toString()
    if (!this.members.delete(key)) {
      return
    }
    this.log('%p left', peer)
    this.emit(peer, 'peer:leave', peer)
    this.updateKind(peer)
  }

  private flushDrops (): void {
    const drops = this.pendingDrops
    this.pendingDrops = []
    for (const d of drops) {
      const detail: DropDetail = { peer: d.lane.peer, channel: this.name, count: d.count, reason: d.reason }
      if (d.first != null && d.last != null) {
        detail.first = d.first
        detail.last = d.last
      }
      if (d.unconfirmed) {
        detail.unconfirmed = true
      }
      this.log('dropped %d to %p (%s)%s', d.count, d.lane.peer, d.reason, d.first != null ? ` ${d.first}-${d.last}` : '')
      if (d.error != null) {
        detail.error = d.error
      }
      this.emit(d.lane.peer, 'drop', detail)
    }
  }

  private emit (peer: PeerId, type: keyof ChannelEvents, detail: PeerId | RangeDetail | DropDetail | ErrorDetail | ConnectionDetail): void {
    if (this.listenerCount(type) > 0) {
      this.safeDispatchEvent(type, { detail })
    }
    if (this.handles.size > 0) {
      const handle = this.handles.get(peer.toString())
      if (handle != null) {
        const peerType = type === 'peer:join' ? 'join' : type === 'peer:leave' ? 'leave' : type
        if (handle.listenerCount(peerType) > 0) {
          handle.safeDispatchEvent(peerType, { detail })
        }
      }
    }
  }
}
