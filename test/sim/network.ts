/**
 * The simulator's in-process network: nodes, connections and streams that the
 * messenger uses exactly as it uses js-libp2p's.
 *
 * Streams are real `AbstractStream`s from @libp2p/utils — the base class of
 * js-libp2p's yamux and WebRTC streams — so reading, pausing, buffering while
 * paused, half-closing, resets and drain behave as they do in a browser. Only
 * what sits under a stream is modelled here: per-connection links that deliver
 * bytes in order after a latency (or drop them), a credit window per stream
 * direction that the receiver returns as data arrives and withholds while it
 * is paused (yamux's flow control), protocol negotiation that takes a round
 * trip and never answers on a half-open connection, and connection faults.
 *
 * Time is the fake clock's (see clock.ts): every delay here is a timer, so a
 * scenario runs in microseconds per simulated second and the same seed always
 * plays out the same way.
 */
import { AbstractStream } from '@libp2p/utils'
import { TypedEventEmitter } from 'main-event'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Connection, PeerId, Stream, StreamHandler, StreamHandlerOptions, Topology, AbortOptions } from '@libp2p/interface'

/** Credit per stream and direction (yamux starts at 256 KiB). */
export const WINDOW = 64 * 1024
/** Largest chunk a link delivers at once (WebRTC data channels carry 16 KiB). */
export const CHUNK = 16 * 1024

const silent: any = Object.assign(() => {}, { enabled: false, trace: () => {}, error: () => {} })
silent.newScope = () => silent
let ids = 0

/**
 * Bytes from one side of a connection to the other, in order, after a
 * latency. The transport is reliable: a blocked link (a black hole) holds
 * what is sent until it is unblocked, then delivers it all in order, unless
 * the connection dies first (then it is lost with the connection).
 */
class Link {
  latency: number
  stallUntil = 0
  private last = 0
  private held: Array<() => void> | undefined
  private dead = false
  /** data of these streams is on its way: if the connection dies now, it is lost in flight */
  private readonly inflight = new Map<StreamRecord, number>()

  constructor (latency: number) {
    this.latency = latency
  }

  get blocked (): boolean { return this.held != null }

  block (): void { this.held ??= [] }

  unblock (): void {
    const held = this.held
    this.held = undefined
    for (const fn of held ?? []) this.deliver(fn)
  }

  /** The connection is gone: nothing more arrives, and streams with data on the way broke. */
  kill (): void {
    this.dead = true
    this.held = undefined
    for (const record of this.inflight.keys()) record.end = 'broken'
    this.inflight.clear()
  }

  /** Deliver data of `record`'s stream (tracked, so a connection loss marks the stream broken). */
  carry (record: StreamRecord | undefined, fn: () => void): void {
    if (record == null || this.dead) {
      this.deliver(fn)
      return
    }
    this.inflight.set(record, (this.inflight.get(record) ?? 0) + 1)
    this.deliver(() => {
      const n = (this.inflight.get(record) ?? 1) - 1
      if (n === 0) this.inflight.delete(record)
      else this.inflight.set(record, n)
      fn()
    })
  }

  deliver (fn: () => void): void {
    if (this.dead) return
    if (this.held != null) {
      this.held.push(fn)
      return
    }
    const now = Date.now()
    const at = Math.max(now + this.latency, this.stallUntil, this.last)
    this.last = at
    setTimeout(() => { if (!this.dead) fn() }, at - now)
  }
}

/** What the network records about every stream, for the invariants. */
export interface StreamRecord {
  id: number
  protocol: string
  from: string
  to: string
  /** bytes the stream accepted from its writer (`send()`), in order: its write buffer and what it gave the link */
  written: Uint8ArrayList
  /** how it ended: 'broken' (reset, aborted, connection lost) or 'graceful' */
  end?: 'broken' | 'graceful'
  /** the receiving page, at the time (it may have died since) */
  receiver?: SimNode
  /** the sender's side of the connection it runs on */
  conn?: SimConnection
  /** when the writer last handed it data */
  lastWriteAt?: number
}

export class SimStream extends AbstractStream {
  remote?: SimStream
  readonly conn: SimConnection
  readonly record?: StreamRecord
  private credit = WINDOW
  private withheld = 0
  /** the writer closed its end (and the FIN went out) */
  private finished = false

  constructor (conn: SimConnection, direction: 'inbound' | 'outbound', protocol: string, record?: StreamRecord) {
    super({ id: `${ids++}`, direction, protocol, log: silent, inactivityTimeout: Infinity })
    this.conn = conn
    this.record = record
    this.addEventListener('close', (evt) => {
      conn.forget(this)
      // a receiving end that was reset or aborted dropped what it held and what still comes
      if ((evt as Event & { error?: Error }).error != null && this.remote?.record != null && direction === 'inbound') this.remote.record.end = 'broken'
      // graceful only if its writer finished it: a stream cut by its connection closing lost what was in flight
      if (record != null && record.end == null) {
        record.end = (evt as Event & { error?: Error }).error == null && this.finished ? 'graceful' : 'broken'
      }
    })
  }

  private get link (): Link { return this.conn.out }

  override send (data: Uint8Array | Uint8ArrayList): boolean {
    const accepted = super.send(data)
    if (this.record != null) {
      this.record.written.append(data.subarray())
      this.record.lastWriteAt = Date.now()
    }
    return accepted
  }

  sendData (data: Uint8ArrayList): { sentBytes: number, canSendMore: boolean } {
    const n = Math.min(data.byteLength, this.credit)
    if (n === 0) return { sentBytes: 0, canSendMore: false }
    this.credit -= n
    for (let offset = 0; offset < n; offset += CHUNK) {
      const bytes = data.subarray(offset, Math.min(n, offset + CHUNK))
      this.link.carry(this.record, () => { this.remote?.arrive(bytes) })
    }
    return { sentBytes: n, canSendMore: this.credit > 0 }
  }

  sendReset (): void {
    this.link.deliver(() => { this.remote?.onRemoteReset() })
  }

  async sendCloseWrite (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    this.finished = true
    this.link.carry(this.record, () => { this.remote?.onRemoteCloseWrite() })
  }

  async sendCloseRead (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    this.link.deliver(() => { this.remote?.onRemoteCloseRead() })
  }

  sendPause (): void {}

  sendResume (): void {
    const n = this.withheld
    this.withheld = 0
    if (n > 0) this.grant(n)
  }

  /** Bytes from the remote end. */
  arrive (bytes: Uint8Array): void {
    if (this.readStatus === 'closed' || this.readStatus === 'closing') {
      if (this.remote?.record != null) this.remote.record.end = 'broken' // arrived at a closed end: lost
      return
    }
    this.onData(bytes)
    // yamux returns credit as data arrives, except while the reader is paused
    if (this.readStatus === 'paused') this.withheld += bytes.byteLength
    else this.grant(bytes.byteLength)
  }

  private grant (n: number): void {
    this.link.deliver(() => { this.remote?.credited(n) })
  }

  private credited (n: number): void {
    this.credit += n
    if (this.writeBuffer.byteLength > 0 || this.writableNeedsDrain) this.onMuxerDrain()
  }
}

export type ConnectionKind = 'direct' | 'relayed'

/** What the SDK reads of an RTCPeerConnection under a direct connection. */
export class FakePeerConnection extends EventTarget {
  connectionState: RTCPeerConnectionState
  constructor (state: RTCPeerConnectionState) {
    super()
    this.connectionState = state
  }

  set (state: RTCPeerConnectionState): void {
    if (this.connectionState === state) return
    this.connectionState = state
    this.dispatchEvent(new Event('connectionstatechange'))
  }
}

/** One side of a connection. */
export class SimConnection extends TypedEventEmitter<any> {
  readonly id = `c${ids++}`
  readonly remotePeer: PeerId
  readonly direct: boolean
  readonly limits?: { bytes: bigint }
  readonly timeline: { open: number, close?: number }
  readonly remoteAddr: any
  readonly multiplexer = '/sim'
  readonly encryption = '/sim'
  direction: 'inbound' | 'outbound'
  status: 'open' | 'closing' | 'closed' = 'open'
  streams: SimStream[] = []
  /** the other side (undefined on a half-open connection) */
  peer?: SimConnection
  readonly out: Link
  readonly node: SimNode
  /** a direct connection's ICE (what @libp2p/webrtc keeps as maConn.peerConnection) */
  readonly maConn: { peerConnection?: FakePeerConnection } = {}
  /** when it became usable for streams (ICE connected), if it did */
  usableAt?: number
  /** when the SDK trusted it again after suspecting it (see src/liveness.ts) */
  trustedAt?: number

  constructor (node: SimNode, remotePeer: PeerId, kind: ConnectionKind, direction: 'inbound' | 'outbound', latency: number, ice: RTCPeerConnectionState = 'connected') {
    super()
    this.node = node
    this.remotePeer = remotePeer
    this.direct = kind === 'direct'
    this.limits = kind === 'relayed' ? { bytes: 1n << 40n } : undefined
    this.direction = direction
    this.timeline = { open: Date.now() }
    this.remoteAddr = { toString: () => `/sim/${kind}/p2p/${remotePeer.toString()}` }
    this.out = new Link(latency)
    node.net.links.add(this.out)
    if (kind === 'direct') {
      this.maConn.peerConnection = new FakePeerConnection(ice)
    }
    if (ice === 'connected') this.usableAt = Date.now()
  }

  /** ICE connects (a direct connection opened while still connecting). */
  iceConnected (): void {
    if (this.status !== 'open') return
    this.usableAt = Date.now()
    this.maConn.peerConnection?.set('connected')
  }

  /** Usable for streams, as the SDK should judge it: 3 direct, 1 relayed (limited), 0 not usable. */
  get rank (): number {
    if (this.status !== 'open' || this.usableAt == null) return 0
    return this.direct ? 3 : 1
  }

  get kind (): ConnectionKind { return this.direct ? 'direct' : 'relayed' }

  forget (stream: SimStream): void {
    const i = this.streams.indexOf(stream)
    if (i >= 0) this.streams.splice(i, 1)
  }

  async newStream (protocols: string | string[], options: AbortOptions & { runOnLimitedConnection?: boolean } = {}): Promise<Stream> {
    const protocol = Array.isArray(protocols) ? protocols[0] : protocols
    if (this.status !== 'open') throw new Error(`The connection is "${this.status}" and not "open"`)
    if (this.limits != null && options.runOnLimitedConnection !== true) throw new Error('Cannot open protocol stream on limited connection')
    options.signal?.throwIfAborted()
    const record: StreamRecord = { id: ids++, protocol, from: this.node.peerId.toString(), to: this.remotePeer.toString(), written: new Uint8ArrayList(), receiver: this.peer?.node, conn: this }
    const local = new SimStream(this, 'outbound', protocol, record)
    this.node.net.streams.push(record)
    return await new Promise<Stream>((resolve, reject) => {
      const fail = (err: Error): void => { cleanup(); local.abort(err); reject(err) }
      const onAbort = (): void => { fail(options.signal?.reason ?? new Error('aborted')) }
      const onClose = (): void => { fail(new Error('Unexpected EOF - stream closed while reading 0/1 bytes')) }
      const cleanup = (): void => {
        options.signal?.removeEventListener('abort', onAbort)
        this.removeEventListener('close', onClose)
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.addEventListener('close', onClose)
      // the negotiation: a round trip, answered only by a remote that has this connection
      this.out.deliver(() => {
        const remoteConn = this.peer
        if (remoteConn == null || remoteConn.status !== 'open' || !remoteConn.node.alive) return // half-open: never answered
        const remote = remoteConn.node.accept(remoteConn, protocol, local)
        remoteConn.out.deliver(() => {
          if (remote == null) { fail(new Error(`Protocol selection failed - could not negotiate ${protocol}`)); return }
          if (remote === 'reset') { fail(new Error('stream reset')); return }
          cleanup()
          if (this.status !== 'open' || local.status !== 'open') { reject(new Error('The connection closed')); return }
          this.streams.push(local)
          resolve(local)
        })
      })
    })
  }

  /** Close at once; the remote side learns after `detect` ms (a latency, or a ping timeout for a silent death). */
  abort (err: Error = new Error('connection aborted'), detect?: number): void {
    if (this.status === 'closed') return
    this.status = 'closed'
    this.timeline.close = Date.now()
    this.out.kill()
    this.maConn.peerConnection?.set('closed')
    for (const s of [...this.streams]) s.onTransportClosed(err)
    this.streams = []
    const remote = this.peer
    this.peer = undefined
    if (remote != null && remote.status === 'open') {
      remote.peer = undefined
      setTimeout(() => { remote.abort(new Error('connection reset by peer')) }, detect ?? this.out.latency)
    }
    this.node.closed(this)
  }

  /** Graceful: every stream flushes and closes, then the transport goes. */
  async close (): Promise<void> {
    if (this.status !== 'open') return
    this.status = 'closing'
    await Promise.all(this.streams.map(async s => { await s.close().catch(() => {}) }))
    const remote = this.peer
    this.out.deliver(() => { remote?.ended() })
    this.ended()
  }

  private ended (): void {
    if (this.status === 'closed') return
    this.status = 'closed'
    this.timeline.close = Date.now()
    this.maConn.peerConnection?.set('closed')
    for (const s of [...this.streams]) s.onTransportClosed()
    this.streams = []
    this.node.closed(this)
  }
}

interface Handler { handler: StreamHandler, options: StreamHandlerOptions }

/** A libp2p node as the messenger and the requestor see it. */
export class SimNode extends TypedEventEmitter<any> {
  readonly peerId: PeerId
  readonly net: SimNetwork
  alive = true
  connections: SimConnection[] = []
  readonly handlers = new Map<string, Handler>()
  private readonly topologies = new Map<string, { protocol: string, topology: Topology, notified: Set<string> }>()
  private nextTopology = 0
  /** peers whose addresses we know (the peer store) */
  readonly known = new Set<string>()
  readonly peerStore: any

  constructor (net: SimNetwork, peerId: PeerId) {
    super()
    this.net = net
    this.peerId = peerId
    this.peerStore = {
      get: async (peer: PeerId) => {
        const node = this.net.node(peer.toString())
        const connected = this.connections.some(c => c.remotePeer.equals(peer) && c.status === 'open')
        return { id: peer, protocols: connected && node != null ? [...node.handlers.keys()] : [], addresses: [] }
      },
      merge: async (peer: PeerId) => { this.known.add(peer.toString()) }
    }
  }

  getConnections (peer?: PeerId): Connection[] {
    return this.connections.filter(c => c.status === 'open' && (peer == null || c.remotePeer.equals(peer))) as unknown as Connection[]
  }

  async dial (peer: PeerId, options: AbortOptions = {}): Promise<Connection> {
    return await this.net.dial(this, peer, options) as unknown as Connection
  }

  async handle (protocols: string | string[], handler: StreamHandler, options: StreamHandlerOptions = {}): Promise<void> {
    for (const protocol of Array.isArray(protocols) ? protocols : [protocols]) {
      if (this.handlers.has(protocol)) throw new Error(`Handler already registered for protocol ${protocol}`)
      this.handlers.set(protocol, { handler, options })
    }
  }

  async unhandle (protocols: string | string[]): Promise<void> {
    for (const p of Array.isArray(protocols) ? protocols : [protocols]) this.handlers.delete(p)
  }

  async register (protocol: string, topology: Topology): Promise<string> {
    const id = `t${this.nextTopology++}`
    this.topologies.set(id, { protocol, topology, notified: new Set() })
    return id
  }

  unregister (id: string): void {
    this.topologies.delete(id)
  }

  /** Open topology registrations and handlers (for the no-leak checks). */
  get registrations (): number {
    return this.topologies.size + this.handlers.size
  }

  /** An inbound stream negotiated on `conn`: the stream, `'reset'` when over the limit, or undefined (no handler). */
  accept (conn: SimConnection, protocol: string, initiator: SimStream): SimStream | 'reset' | undefined {
    const h = this.handlers.get(protocol)
    if (h == null) return undefined
    const limit = h.options.maxInboundStreams ?? 32
    if (conn.streams.filter(s => s.direction === 'inbound' && s.protocol === protocol).length >= limit) return 'reset'
    const stream = new SimStream(conn, 'inbound', protocol)
    // paired before the handler runs: what it writes (or its close) follows the negotiation's answer
    stream.remote = initiator
    initiator.remote = stream
    conn.streams.push(stream)
    try {
      void Promise.resolve(h.handler(stream, conn as unknown as Connection)).catch(() => { stream.abort(new Error('handler failed')) })
    } catch {
      stream.abort(new Error('handler failed'))
    }
    return stream
  }

  /** A connection on this node opened. */
  opened (conn: SimConnection): void {
    this.connections.push(conn)
    this.safeDispatchEvent('connection:open', { detail: conn })
    // identify: the remote's protocols become known a moment later
    setTimeout(() => {
      if (conn.status !== 'open' || !this.alive) return
      const remote = this.net.node(conn.remotePeer.toString())
      if (remote == null) return
      for (const t of this.topologies.values()) {
        const key = conn.remotePeer.toString()
        if (!t.notified.has(key) && remote.handlers.has(t.protocol)) {
          t.notified.add(key)
          t.topology.onConnect?.(conn.remotePeer, conn as unknown as Connection)
        }
      }
    }, conn.out.latency)
  }

  closed (conn: SimConnection): void {
    const i = this.connections.indexOf(conn)
    if (i < 0) return
    this.connections.splice(i, 1)
    this.safeDispatchEvent('connection:close', { detail: conn })
    const key = conn.remotePeer.toString()
    if (!this.connections.some(c => c.remotePeer.equals(conn.remotePeer) && c.status === 'open')) {
      for (const t of this.topologies.values()) {
        if (t.notified.delete(key)) t.topology.onDisconnect?.(conn.remotePeer)
      }
    }
  }

  /** The page is gone: connections drop (the remote notices after `detect` ms), nothing answers any more. */
  kill (detect: (conn: SimConnection) => number): void {
    this.alive = false
    for (const conn of [...this.connections]) conn.abort(new Error('the page went away'), detect(conn))
    this.handlers.clear()
    this.topologies.clear()
  }
}

export interface NetworkOptions {
  latency: number
  /** how long the connection monitor takes to give up a connection that does not answer its pings */
  pingDetect: number
  /** what a dial makes */
  kind: ConnectionKind
  /** how long a dial to an unreachable peer takes to fail */
  dialFailAfter: number
}

export class SimNetwork {
  readonly nodes = new Map<string, SimNode>()
  readonly streams: StreamRecord[] = []
  readonly opts: NetworkOptions
  /** every link ever made: a heal unblocks even those of closed connections */
  readonly links = new Set<Link>()
  private monitor?: ReturnType<typeof setInterval>
  /** when each connection was first seen unable to answer a ping */
  private readonly silentSince = new Map<SimConnection, number>()
  /** pairs that cannot reach each other: "a|b" both ways */
  private readonly partitions = new Set<string>()

  constructor (opts: NetworkOptions) {
    this.opts = opts
  }

  /** The live node with this id. */
  node (id: string): SimNode | undefined {
    const n = this.nodes.get(id)
    return n?.alive === true ? n : undefined
  }

  add (peerId: PeerId): SimNode {
    const node = new SimNode(this, peerId)
    this.nodes.set(peerId.toString(), node)
    return node
  }

  private key (a: string, b: string): string { return a < b ? `${a}|${b}` : `${b}|${a}` }

  partition (a: SimNode, b: SimNode, on: boolean): void {
    const k = this.key(a.peerId.toString(), b.peerId.toString())
    if (on) this.partitions.add(k)
    else this.partitions.delete(k)
  }

  reachable (a: SimNode, b: SimNode): boolean {
    return a.alive && b.alive && !this.partitions.has(this.key(a.peerId.toString(), b.peerId.toString()))
  }

  async dial (from: SimNode, peer: PeerId, options: AbortOptions = {}): Promise<SimConnection> {
    const existing = from.connections.find(c => c.remotePeer.equals(peer) && c.status === 'open')
    if (existing != null) return existing
    options.signal?.throwIfAborted()
    const to = this.node(peer.toString())
    const known = from.known.has(peer.toString())
    return await new Promise<SimConnection>((resolve, reject) => {
      const onAbort = (): void => { clearTimeout(timer); reject(options.signal?.reason ?? new Error('aborted')) }
      const ok = to != null && known && this.reachable(from, to)
      const timer = setTimeout(() => {
        options.signal?.removeEventListener('abort', onAbort)
        if (!ok || to == null || !this.reachable(from, to)) { reject(new Error(`Could not dial ${peer.toString()}`)); return }
        resolve(this.connect(from, to, this.opts.kind))
      }, ok ? 2 * this.opts.latency : this.opts.dialFailAfter)
      options.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * A new connection between two nodes, seen by both at once. A direct one
   * may open before its ICE connects (`iceDelay` ms later), as @libp2p/webrtc's do.
   */
  connect (a: SimNode, b: SimNode, kind: ConnectionKind, iceDelay = 0): SimConnection {
    const ice = kind === 'direct' && iceDelay > 0 ? 'connecting' : 'connected'
    const ab = new SimConnection(a, b.peerId, kind, 'outbound', this.opts.latency, ice)
    const ba = new SimConnection(b, a.peerId, kind, 'inbound', this.opts.latency, ice)
    ab.peer = ba
    ba.peer = ab
    a.opened(ab)
    b.opened(ba)
    if (ice === 'connecting') {
      setTimeout(() => { ab.iceConnected(); ba.iceConnected() }, iceDelay)
    }
    return ab
  }

  /**
   * A connection only `a` has: the other side's WebRTC dial hung (the
   * init-channel race), and `a` was left an open "direct" connection whose ICE
   * never connects; its streams never negotiate.
   */
  halfOpen (a: SimNode, b: SimNode, kind: ConnectionKind): SimConnection {
    const ab = new SimConnection(a, b.peerId, kind, 'inbound', this.opts.latency, kind === 'direct' ? 'connecting' : 'connected')
    a.opened(ab)
    return ab
  }

  /** Everything between `a` and `b` stops arriving (both ways) until `heal()`. */
  blackHole (a: SimNode, b: SimNode): void {
    for (const c of a.connections) {
      if (c.remotePeer.equals(b.peerId)) {
        c.out.block()
        c.peer?.out.block()
      }
    }
  }

  stall (a: SimNode, b: SimNode, until: number): void {
    for (const c of a.connections) {
      if (c.remotePeer.equals(b.peerId)) {
        c.out.stallUntil = until
        if (c.peer != null) c.peer.out.stallUntil = until
      }
    }
  }

  heal (): void {
    this.partitions.clear()
    for (const link of this.links) {
      link.unblock()
      link.stallUntil = 0
    }
  }

  /**
   * The connection monitor (js-libp2p pings every connection): a connection
   * whose other side is gone, or whose link holds everything, for longer than
   * `pingDetect` is aborted.
   */
  startMonitor (): void {
    this.monitor = setInterval(() => {
      const now = Date.now()
      for (const node of this.nodes.values()) {
        for (const c of [...node.connections]) {
          const answers = c.peer != null && c.peer.status === 'open' && c.peer.node.alive && !c.out.blocked && !c.peer.out.blocked
          if (answers) {
            this.silentSince.delete(c)
            continue
          }
          const since = this.silentSince.get(c) ?? now
          this.silentSince.set(c, since)
          if (now - since >= this.opts.pingDetect) {
            this.silentSince.delete(c)
            c.abort(new Error('ping timeout'), 0)
          }
        }
      }
    }, 1_000)
  }

  stop (): void {
    clearInterval(this.monitor)
    this.silentSince.clear()
  }
}
