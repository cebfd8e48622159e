/**
 * The calling side of request/response.
 *
 * One request lifecycle serves both modes. A `Call` is admitted to its peer's
 * `Lane` (at most `maxInFlightPerPeer` on the wire, the rest wait in order, up
 * to `maxQueuedRequests` across all peers), armed with its timeout and signal,
 * written as a REQUEST frame on a `Conduit`, and settled exactly once: by the
 * response, an ERROR frame, its stream breaking (`RequestAbortedError`) or
 * speaking garbage (`ProtocolError`), or the caller giving up. Settling
 * releases its timer, its abort listener and its slot.
 *
 * The modes differ only in the lane's `Transport`, which puts a call on a
 * stream:
 * - multiplexed (`SharedStream`): one long-lived stream per peer, opened lazily
 *   on the best connection (direct over relayed), reused, closed after being
 *   idle, replaced when it breaks or when a better connection appears
 *   (in-flight requests finish on the old one). Ids count from 1; giving up
 *   sends a CANCEL frame.
 * - stream (`StreamPerRequest`): a new stream per request, id 0, its writing
 *   side closed after the request; giving up resets the stream.
 */
import { bestConnection, connectionRank, connectionTo } from '../core/connections.js'
import { FrameTooLargeError, MessengerStoppedError, QueueFullError, StreamOpenError, errorMessage, withCause } from '../errors.js'
import { MAX_ERROR_PAYLOAD, streamLimits } from './constants.js'
import { ProtocolError, RequestAbortedError, RequestTimeoutError } from './errors.js'
import { CANCEL, ERROR, FrameStream, REQUEST, RESPONSE, remoteError } from './wire.js'
import { stopController, timedSignal } from '../util/signals.js'
import type { Codec } from '../core/codec.js'
import type { RequestSettings } from './constants.js'
import type { RequestOptions } from './requestor.js'
import type { Dialer } from '../core/connections.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'

/** The settings the calling side uses, and the protocol id of its mode. */
interface ClientOptions extends RequestSettings {
  protocol: string
  maxOutboundStreams: number
}

/**
 * Connections a stream has been opened on. libp2p's muxers (yamux, and
 * @libp2p/webrtc's data channels) accept at most 10 streams that arrive before
 * the receiving side has finished setting up the connection
 * (`maxEarlyStreams` in @libp2p/utils 7.4.1), and past that abort the whole
 * connection (`MaxEarlyStreamsError`). A burst of stream-mode requests on a
 * fresh connection would do exactly that, so the first stream goes alone.
 */
const proven = new WeakSet<Connection>()

/** One request, from `request()` until it settles. */
class Call<Res> {
  readonly lane: Lane<Res>
  readonly payload: Uint8Array
  readonly result = Promise.withResolvers<Res>()
  private timer?: ReturnType<typeof setTimeout>
  private signal?: AbortSignal
  private onAbort?: () => void
  done = false
  /** waiting for a slot (in `lane.waiting`) */
  queued = false
  /** holds one of the lane's in-flight slots (in `lane.active`) */
  counted = false
  /** the stream it was written to, and its id there */
  conduit?: Conduit<Res>
  id = 0
  /** while its own stream is being opened (stream mode): abort that */
  abandon?: (err: Error) => void

  constructor (lane: Lane<Res>, payload: Uint8Array) {
    this.lane = lane
    this.payload = payload
  }

  arm (timeout: number, signal?: AbortSignal): void {
    if (Number.isFinite(timeout)) {
      this.timer = setTimeout(() => {
        this.giveUp(new RequestTimeoutError(`No response from ${this.lane.peer.toString()} within ${timeout} ms`))
      }, timeout)
    }
    if (signal != null) {
      this.signal = signal
      this.onAbort = () => { this.giveUp(signal.reason ?? new DOMException('The operation was aborted', 'AbortError')) }
      signal.addEventListener('abort', this.onAbort, { once: true })
    }
  }

  succeed (value: Res): void {
    if (this.settle()) {
      this.result.resolve(value)
    }
  }

  fail (err: Error): void {
    if (this.settle()) {
      this.result.reject(err)
    }
  }

  /** The caller gave up (timeout, abort signal, stop): tell the remote, then fail. */
  giveUp (err: Error): void {
    if (this.done) {
      return
    }
    // CANCEL (or the reset) while the call still holds its id
    if (this.conduit != null) {
      this.conduit.cancel(this, err)
    } else {
      this.abandon?.(err)
    }
    this.fail(err)
  }

  private settle (): boolean {
    if (this.done) {
      return false
    }
    this.done = true
    clearTimeout(this.timer)
    if (this.onAbort != null) {
      this.signal?.removeEventListener('abort', this.onAbort)
    }
    this.lane.release(this)
    return true
  }
}

/** How a lane's calls get onto streams: the one thing the two modes do differently. */
interface Transport<Res> {
  /** Nothing open or being opened. */
  readonly idle: boolean
  /** Put `call` on a stream now (true), or leave it waiting (false): `pump()` runs again when that may change. */
  start(call: Call<Res>): boolean
  /** Calls are waiting: get ready for them (open a stream ahead of a free slot). */
  prepare(): void
  /** `conduit` is closing: send nothing more to it. */
  forget(conduit: Conduit<Res>): void
  streams(): Stream[]
  stop(err: Error): void
}

/** One peer: admission, in-flight accounting and the waiting queue, on top of its transport. */
class Lane<Res> {
  readonly peer: PeerId
  readonly host: RequestClient<Res>
  readonly transport: Transport<Res>
  readonly waiting = new Set<Call<Res>>()
  readonly active = new Set<Call<Res>>()

  constructor (peer: PeerId, host: RequestClient<Res>) {
    this.peer = peer
    this.host = host
    this.transport = host.opts.mode === 'stream' ? new StreamPerRequest(this) : new SharedStream(this)
  }

  get pending (): number {
    return this.active.size + this.waiting.size
  }

  submit (call: Call<Res>): void {
    if (this.waiting.size === 0 && this.start(call)) {
      return
    }
    call.queued = true
    this.waiting.add(call)
    this.host.queued++
    this.transport.prepare()
  }

  /** Put `call` on the wire now if there is a slot and a stream for it. */
  private start (call: Call<Res>): boolean {
    if (this.active.size >= this.host.opts.maxInFlightPerPeer) {
      return false
    }
    call.counted = true
    this.active.add(call)
    if (this.transport.start(call)) {
      return true
    }
    call.counted = false
    this.active.delete(call)
    return false
  }

  pump (): void {
    if (this.host.stopped) {
      return
    }
    for (const call of this.waiting) {
      if (!this.start(call)) {
        return
      }
      call.queued = false
      this.waiting.delete(call)
      this.host.queued--
    }
  }

  /** A call settled: free what it held, let the next ones go. */
  release (call: Call<Res>): void {
    if (call.queued) {
      call.queued = false
      this.waiting.delete(call)
      this.host.queued--
    }
    if (call.counted) {
      call.counted = false
      this.active.delete(call)
      call.conduit?.release(call)
      this.pump()
    }
    this.check()
  }

  /** A conduit is gone: waiting calls may go elsewhere. */
  gone (): void {
    if (this.waiting.size > 0) {
      this.pump()
    }
    this.check()
  }

  /** Forget this lane once nothing is left in it. */
  check (): void {
    if (this.active.size === 0 && this.waiting.size === 0 && this.transport.idle) {
      this.host.idle(this)
    }
  }

  /** Dial if needed and open a request stream on the best connection. */
  async open (signal: AbortSignal): Promise<{ stream: Stream, conn: Connection }> {
    const { opts, node } = this.host
    const timed = timedSignal(opts.openTimeout, signal)
    try {
      const conn = await connectionTo(node, this.peer, timed.signal)
      const stream = await conn.newStream(opts.protocol, {
        signal: timed.signal,
        runOnLimitedConnection: true,
        maxOutboundStreams: opts.maxOutboundStreams
      })
      return { stream, conn }
    } catch (err: any) {
      throw new StreamOpenError(`Could not open ${opts.protocol} to ${this.peer.toString()}: ${errorMessage(err)}`, { cause: err })
    } finally {
      timed.clear()
    }
  }

  stop (err: Error): void {
    for (const call of [...this.waiting]) {
      call.fail(err)
    }
    for (const call of [...this.active]) {
      call.giveUp(err)
    }
    this.transport.stop(err)
  }
}

/** Multiplexed mode: every call to the peer on one stream. */
class SharedStream<Res> implements Transport<Res> {
  private readonly lane: Lane<Res>
  /** the stream new requests go to */
  private conduit?: Conduit<Res>
  /** older streams finishing their in-flight requests */
  private readonly retiring = new Set<Conduit<Res>>()
  private opening = false

  constructor (lane: Lane<Res>) {
    this.lane = lane
  }

  get idle (): boolean {
    return this.conduit == null && this.retiring.size === 0 && !this.opening
  }

  start (call: Call<Res>): boolean {
    const conduit = this.current()
    conduit?.send(call)
    return conduit != null
  }

  prepare (): void {
    if (this.conduit == null) {
      void this.open()
    }
  }

  /** The stream to use now, if it is open and on the best connection. */
  private current (): Conduit<Res> | undefined {
    const conduit = this.conduit
    if (conduit == null) {
      void this.open()
      return undefined
    }
    if (conduit.rank < 3 && !this.opening) {
      // on a relayed connection: move when a better one appears
      const best = bestConnection(this.lane.host.node.getConnections(this.lane.peer))
      if (best != null && connectionRank(best) > conduit.rank) {
        this.conduit = undefined
        if (conduit.inflight.size === 0) {
          conduit.close()
        } else {
          conduit.retired = true
          this.retiring.add(conduit)
        }
        void this.open()
        return undefined
      }
    }
    return conduit
  }

  forget (conduit: Conduit<Res>): void {
    if (this.conduit === conduit) {
      this.conduit = undefined
    }
    this.retiring.delete(conduit)
  }

  /** Open the peer's stream; requests waiting for it go when it is there. */
  private async open (): Promise<void> {
    const { lane } = this
    if (this.opening || lane.host.stopped) {
      return
    }
    this.opening = true
    let opened: Conduit<Res> | undefined
    try {
      const { stream, conn } = await lane.open(lane.host.signal)
      if (lane.host.stopped) {
        stream.abort(new MessengerStoppedError('The requestor is stopped'))
      } else {
        this.conduit = opened = new Conduit(lane, stream, conn, false)
      }
    } catch (err: any) {
      // nothing waiting can be sent: fail it all, the next request tries again
      this.opening = false
      for (const call of [...lane.waiting]) {
        call.fail(err)
      }
      lane.check()
      return
    }
    this.opening = false
    lane.pump()
    // everything that waited for it gave up meanwhile: it still closes when idle
    opened?.armIdle()
  }

  streams (): Stream[] {
    return [this.conduit, ...this.retiring].flatMap(c => c != null ? [c.stream] : [])
  }

  stop (err: Error): void {
    for (const conduit of [this.conduit, ...this.retiring]) {
      conduit?.abort(err)
    }
  }
}

/** Stream mode: every call on a stream of its own. */
class StreamPerRequest<Res> implements Transport<Res> {
  readonly idle = true
  private readonly lane: Lane<Res>
  /** the first stream on a new connection is being opened (see `proven`) */
  private probing = false

  constructor (lane: Lane<Res>) {
    this.lane = lane
  }

  start (call: Call<Res>): boolean {
    const conn = bestConnection(this.lane.host.node.getConnections(this.lane.peer))
    const probe = conn == null || !proven.has(conn)
    if (probe) {
      if (this.probing) {
        return false
      }
      this.probing = true
    }
    void this.open(call, probe)
    return true
  }

  private async open (call: Call<Res>, probe: boolean): Promise<void> {
    const controller = new AbortController()
    call.abandon = (err) => { controller.abort(err) }
    try {
      const { stream, conn } = await this.lane.open(controller.signal)
      proven.add(conn)
      if (call.done) {
        stream.abort(new RequestAbortedError('The request was abandoned'))
      } else {
        new Conduit(this.lane, stream, conn, true).send(call)
      }
    } catch (err: any) {
      call.fail(err)
    } finally {
      call.abandon = undefined
      if (probe) {
        this.probing = false
        this.lane.pump()
      }
    }
  }

  prepare (): void {}

  forget (): void {}

  streams (): Stream[] {
    return []
  }

  stop (): void {}
}

function decodeInto<Res> (codec: Codec<Res>, payload: Uint8Array, call: Call<Res>): void {
  let value: Res
  try {
    value = codec.decode(payload)
  } catch (err: any) {
    call.fail(withCause(new ProtocolError(`Could not decode the response: ${errorMessage(err)}`), err))
    return
  }
  call.succeed(value)
}

/** One stream carrying requests to a peer: many (multiplexed) or one (`single`, stream mode). */
class Conduit<Res> extends FrameStream {
  readonly lane: Lane<Res>
  readonly rank: number
  readonly inflight = new Map<number, Call<Res>>()
  retired = false
  private readonly single: boolean
  private nextId = 1
  /** single: a response arrived, the stream may end by itself */
  private responded = false
  private idleTimer?: ReturnType<typeof setTimeout>

  constructor (lane: Lane<Res>, stream: Stream, conn: Connection, single: boolean) {
    // a caller accepts RESPONSE (up to its limit) and ERROR frames, nothing else
    super(stream, [-1, -1, lane.host.opts.maxResponseSize, MAX_ERROR_PAYLOAD])
    this.lane = lane
    this.rank = connectionRank(conn)
    this.single = single
  }

  send (call: Call<Res>): void {
    const id = this.single ? 0 : this.nextId++
    call.conduit = this
    call.id = id
    this.inflight.set(id, call)
    clearTimeout(this.idleTimer)
    this.writer.write(REQUEST, id, call.payload)
    if (this.single) {
      this.writer.end()
    }
  }

  /** The caller gave up on `call`: tell the handler. */
  cancel (call: Call<Res>, err: Error): void {
    if (this.closed || this.inflight.get(call.id) !== call) {
      return
    }
    if (this.single) {
      this.broken(err)
    } else {
      this.writer.write(CANCEL, call.id)
    }
  }

  /** `call` settled. */
  release (call: Call<Res>): void {
    if (this.inflight.get(call.id) !== call) {
      return
    }
    this.inflight.delete(call.id)
    if (this.inflight.size > 0 || this.closed) {
      return
    }
    if (this.single && !this.responded) {
      // given up, or its response was too large: the rest is of no use
      this.broken(new RequestAbortedError('The request was abandoned'))
    } else if (this.single || this.retired) {
      this.close()
    } else {
      this.armIdle()
    }
  }

  frame (kind: number, id: number, payload: Uint8Array): void {
    const call = this.call(id)
    if (call == null) {
      return
    }
    this.responded = true
    if (kind === ERROR) {
      call.fail(remoteError(payload))
    } else {
      decodeInto(this.lane.host.responseCodec, payload, call)
    }
  }

  oversized (kind: number, id: number, size: number, limit: number): void {
    this.call(id)?.fail(kind === RESPONSE ? new FrameTooLargeError(size, limit) : new ProtocolError(`Oversized ERROR frame (${size} bytes)`))
  }

  /** The call waiting for `id`. One no longer waiting is normal (it was cancelled); one never sent is not. */
  private call (id: number): Call<Res> | undefined {
    const call = this.inflight.get(id)
    if (call == null && (this.single ? id !== 0 : id === 0 || id >= this.nextId)) {
      throw new ProtocolError(`Response for request ${id}, which was never sent`)
    }
    return call
  }

  protected garbage (err: ProtocolError): void {
    this.broken(err)
  }

  protected ended (): void {
    // the remote will not answer any more
    if (this.inflight.size > 0) {
      this.broken(new RequestAbortedError(`${this.lane.peer.toString()} closed the stream with requests in flight`))
    } else {
      this.close()
    }
  }

  protected gone (error?: Error): void {
    this.broken(new RequestAbortedError(`The stream to ${this.lane.peer.toString()} closed${error != null ? `: ${error.message}` : ''}`, { cause: error }), false)
  }

  protected writeFailed (err: Error): void {
    this.broken(new RequestAbortedError(`Could not write to ${this.lane.peer.toString()}: ${err.message}`, { cause: err }))
  }

  protected override detach (): boolean {
    if (!super.detach()) {
      return false
    }
    clearTimeout(this.idleTimer)
    this.lane.transport.forget(this)
    return true
  }

  /** Close gracefully (nothing in flight). */
  close (): void {
    if (this.detach()) {
      this.writer.end()
      this.lane.gone()
    }
  }

  /** Fail everything in flight on this stream; reset it. */
  abort (err: Error): void {
    this.broken(err)
  }

  private broken (err: Error, reset = true): void {
    if (!this.detach()) {
      return
    }
    this.writer.discard()
    if (reset) {
      this.stream.abort(err)
    }
    for (const call of [...this.inflight.values()]) {
      call.fail(err)
    }
    this.inflight.clear()
    this.lane.gone()
  }

  /** Close after `idleTimeout` unless a request comes first. */
  armIdle (): void {
    const idle = this.lane.host.opts.idleTimeout
    if (this.closed || this.inflight.size > 0 || !Number.isFinite(idle)) {
      return
    }
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      if (this.inflight.size === 0) {
        this.close()
      }
    }, idle)
  }
}

/** The calling side of one requestor. */
export class RequestClient<Res> {
  readonly node: Dialer
  readonly opts: ClientOptions
  readonly responseCodec: Codec<Res>
  /** aborted by stop() */
  readonly signal: AbortSignal
  stopped = false
  /** calls waiting for a slot, all peers */
  queued = 0
  private readonly lanes = new Map<string, Lane<Res>>()
  private readonly controller = stopController()

  constructor (node: Dialer, settings: RequestSettings, protocol: string, responseCodec: Codec<Res>) {
    this.node = node
    this.opts = { ...settings, protocol, maxOutboundStreams: streamLimits(settings.mode, settings).maxOutboundStreams }
    this.responseCodec = responseCodec
    this.signal = this.controller.signal
  }

  /** Send an encoded request; resolves with the decoded response. */
  async call (peer: PeerId, payload: Uint8Array, options: RequestOptions = {}): Promise<Res> {
    if (this.stopped) {
      throw new MessengerStoppedError('The requestor is stopped')
    }
    options.signal?.throwIfAborted()
    if (this.queued >= this.opts.maxQueuedRequests) {
      throw new QueueFullError(`${this.queued} requests are already waiting (maxQueuedRequests)`)
    }
    const key = peer.toString()
    let lane = this.lanes.get(key)
    if (lane == null) {
      lane = new Lane(peer, this)
      this.lanes.set(key, lane)
    }
    const call = new Call<Res>(lane, payload)
    call.arm(options.timeout ?? this.opts.timeout, options.signal)
    lane.submit(call)
    return call.result.promise
  }

  /** Requests in flight or waiting, to one peer or to all. */
  pending (peer?: PeerId): number {
    if (peer != null) {
      return this.lanes.get(peer.toString())?.pending ?? 0
    }
    let n = 0
    for (const lane of this.lanes.values()) {
      n += lane.pending
    }
    return n
  }

  /** Open request streams (multiplexed mode), for diagnostics and tests. */
  streams (peer?: PeerId): Stream[] {
    return [...this.lanes.values()].flatMap(lane => peer == null || lane.peer.equals(peer) ? lane.transport.streams() : [])
  }

  idle (lane: Lane<Res>): void {
    if (this.lanes.get(lane.peer.toString()) === lane) {
      this.lanes.delete(lane.peer.toString())
    }
  }

  stop (): void {
    if (this.stopped) {
      return
    }
    this.stopped = true
    const err = new MessengerStoppedError('The requestor is stopped')
    this.controller.abort(err)
    for (const lane of [...this.lanes.values()]) {
      lane.stop(err)
    }
    this.lanes.clear()
  }
}
