/**
 * The calling side of request/response.
 *
 * Per peer, a lane keeps at most `maxInFlightPerPeer` requests on the wire and
 * queues the rest (up to `maxQueuedRequests` across all peers). Every request
 * settles exactly once — with the response, or with an error — and releases
 * its timer, its abort listener and its slot when it does.
 *
 * - Multiplexed mode: one long-lived stream per peer, opened lazily on the
 *   best connection (direct over relayed), reused, closed after being idle,
 *   replaced when it breaks or when a better connection appears (in-flight
 *   requests finish on the old one). A request the caller gives up on sends a
 *   CANCEL frame. A stream that breaks fails its in-flight requests with
 *   `RequestAbortedError`, one that speaks garbage with `ProtocolError`.
 * - Stream mode: a new stream per request (REQUEST frame with id 0, then close
 *   the writing side, read one RESPONSE or ERROR); giving up resets the stream.
 */
import { bestConnection, connectionRank, connectionTo } from '../core/connections.js'
import {
  FrameTooLargeError, MessengerStoppedError, QueueFullError, StreamOpenError, errorMessage,
  withCause
} from '../errors.js'
import { ProtocolError, RequestAbortedError, RequestTimeoutError } from './errors.js'
import { varintLength, writeVarint } from '../core/framing.js'
import {
  CANCEL, ERROR, FrameWriter, REQUEST, RESPONSE, RequestFrameReader, remoteError
} from './wire.js'
import { MAX_ERROR_PAYLOAD } from './constants.js'
import { stopController, timedSignal } from '../util/signals.js'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Codec } from '../core/codec.js'
import type { FrameSink } from './wire.js'
import type { RequestMode } from './constants.js'
import type { AbortOptions, Connection, PeerId, Stream } from '@libp2p/interface'

/** The parts of a libp2p node the calling side uses. */
export interface ClientNode {
  getConnections(peerId?: PeerId): Connection[]
  dial(peer: PeerId, options?: AbortOptions): Promise<Connection>
}

export interface ClientOptions {
  mode: RequestMode
  /** The protocol id on the wire for this mode. */
  protocol: string
  maxRequestSize: number
  maxResponseSize: number
  timeout: number
  maxInFlightPerPeer: number
  maxQueuedRequests: number
  openTimeout: number
  idleTimeout: number
  maxOutboundStreams: number
}

export interface CallOptions extends AbortOptions {
  timeout?: number
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
  private readonly resolveFn: (value: Res) => void
  private readonly rejectFn: (err: Error) => void
  private timer?: ReturnType<typeof setTimeout>
  private signal?: AbortSignal
  private onAbort?: () => void
  done = false
  /** waiting for a slot (in `lane.waiting`) */
  queued = false
  /** holds one of the lane's in-flight slots */
  counted = false
  /** multiplexed: the stream it was written to, and its id there */
  conduit?: Conduit<Res>
  id = 0
  /** stream mode: aborts opening the stream, resets it once open */
  abandon?: (err: Error) => void

  constructor (lane: Lane<Res>, payload: Uint8Array, resolve: (value: Res) => void, reject: (err: Error) => void) {
    this.lane = lane
    this.payload = payload
    this.resolveFn = resolve
    this.rejectFn = reject
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
      this.resolveFn(value)
    }
  }

  fail (err: Error): void {
    if (this.settle()) {
      this.rejectFn(err)
    }
  }

  /** The caller gave up (timeout, abort signal, stop): tell the remote, then fail. */
  giveUp (err: Error): void {
    if (this.done) {
      return
    }
    // CANCEL while the call still holds its id; settle before resetting a
    // stream, whose 'close' would otherwise settle it with another error
    this.conduit?.cancel(this)
    this.fail(err)
    this.abandon?.(err)
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

interface ClientHost<Res> {
  readonly node: ClientNode
  readonly opts: ClientOptions
  readonly responseCodec: Codec<Res>
  readonly stopped: boolean
  /** aborted by stop() */
  readonly signal: AbortSignal
  /** calls waiting for a slot, all peers */
  queued: number
  idle(lane: Lane<Res>): void
}

/** One peer: in-flight accounting, the waiting queue, and (multiplexed) its streams. */
class Lane<Res> {
  readonly peer: PeerId
  readonly host: ClientHost<Res>
  readonly waiting = new Set<Call<Res>>()
  inFlight = 0
  /** multiplexed: the stream new requests go to */
  conduit?: Conduit<Res>
  /** multiplexed: older streams finishing their in-flight requests */
  readonly retiring = new Set<Conduit<Res>>()
  /** stream mode: calls with a stream of their own */
  readonly calls = new Set<Call<Res>>()
  private opening = false
  /** stream mode: the first stream on a new connection is being opened */
  private probing = false

  constructor (peer: PeerId, host: ClientHost<Res>) {
    this.peer = peer
    this.host = host
  }

  get empty (): boolean {
    return this.inFlight === 0 && this.waiting.size === 0 && this.conduit == null && this.retiring.size === 0 && !this.opening
  }

  submit (call: Call<Res>): void {
    if (this.waiting.size === 0 && this.inFlight < this.host.opts.maxInFlightPerPeer && this.start(call)) {
      return
    }
    call.queued = true
    this.waiting.add(call)
    this.host.queued++
    if (this.host.opts.mode === 'multiplexed' && this.conduit == null) {
      void this.open()
    }
  }

  /** Put `call` on the wire now if possible. */
  private start (call: Call<Res>): boolean {
    if (this.host.opts.mode === 'stream') {
      const conn = bestConnection(this.host.node.getConnections(this.peer))
      let probe = false
      if (conn == null || !proven.has(conn)) {
        // a connection no stream has been opened on yet: one stream first
        // (see `proven`), the others wait for it
        if (this.probing) {
          return false
        }
        this.probing = probe = true
      }
      call.counted = true
      this.inFlight++
      this.calls.add(call)
      void this.streamCall(call, conn, probe)
      return true
    }
    const conduit = this.current()
    if (conduit == null) {
      return false
    }
    call.counted = true
    this.inFlight++
    conduit.send(call)
    return true
  }

  /** Multiplexed: the stream to use now, if it is open and on the best connection. */
  private current (): Conduit<Res> | undefined {
    const conduit = this.conduit
    if (conduit == null) {
      if (!this.opening) {
        void this.open()
      }
      return undefined
    }
    if (conduit.rank < 3 && !this.opening) {
      // on a relayed connection: move when a better one appears
      const best = bestConnection(this.host.node.getConnections(this.peer))
      if (best != null && connectionRank(best) > conduit.rank) {
        this.retire(conduit)
        void this.open()
        return undefined
      }
    }
    return conduit
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
      this.inFlight--
      this.calls.delete(call)
      call.conduit?.release(call)
      this.pump()
    }
    if (this.empty) {
      this.host.idle(this)
    }
  }

  pump (): void {
    if (this.host.stopped) {
      return
    }
    for (const call of this.waiting) {
      if (this.inFlight >= this.host.opts.maxInFlightPerPeer || !this.start(call)) {
        return
      }
      call.queued = false
      this.waiting.delete(call)
      this.host.queued--
    }
  }

  retire (conduit: Conduit<Res>): void {
    if (this.conduit === conduit) {
      this.conduit = undefined
    }
    if (conduit.inflight.size === 0) {
      conduit.close()
    } else {
      conduit.retired = true
      this.retiring.add(conduit)
    }
  }

  /** A conduit is gone (closed, reset, garbage). */
  gone (conduit: Conduit<Res>): void {
    if (this.conduit === conduit) {
      this.conduit = undefined
    }
    this.retiring.delete(conduit)
    if (this.waiting.size > 0) {
      this.pump()
    } else if (this.empty) {
      this.host.idle(this)
    }
  }

  /** Multiplexed: open the peer's stream; requests waiting for it go when it is there. */
  private async open (): Promise<void> {
    if (this.opening || this.host.stopped) {
      return
    }
    this.opening = true
    const { opts, node } = this.host
    const timed = timedSignal(opts.openTimeout, this.host.signal)
    let failure: Error | undefined
    let opened: Conduit<Res> | undefined
    try {
      const conn = await connectionTo(node, this.peer, timed.signal)
      const stream = await conn.newStream(opts.protocol, {
        signal: timed.signal,
        runOnLimitedConnection: true,
        maxOutboundStreams: opts.maxOutboundStreams
      })
      if (this.host.stopped) {
        stream.abort(new MessengerStoppedError('The requestor is stopped'))
      } else {
        this.conduit = new Conduit(this, stream, conn)
        opened = this.conduit
      }
    } catch (err: any) {
      failure = new StreamOpenError(`Could not open ${opts.protocol} to ${this.peer.toString()}: ${errorMessage(err)}`, { cause: err })
    } finally {
      timed.clear()
      this.opening = false
    }
    if (failure != null) {
      // nothing waiting can be sent: fail it all, the next request tries again
      for (const call of [...this.waiting]) {
        call.fail(failure)
      }
      if (this.empty) {
        this.host.idle(this)
      }
      return
    }
    this.pump()
    // everything that waited for it gave up meanwhile: it still closes when idle
    opened?.armIdle()
  }

  /** Stream mode: one request on a stream of its own. */
  private async streamCall (call: Call<Res>, best: Connection | undefined, probe: boolean): Promise<void> {
    const { opts, node } = this.host
    const controller = new AbortController()
    const stopped = this.host.signal
    const onStop = (): void => { controller.abort(stopped.reason) }
    stopped.addEventListener('abort', onStop, { once: true })
    let stream: Stream | undefined
    call.abandon = (err) => {
      controller.abort(err)
      stream?.abort(err)
    }
    const timed = timedSignal(opts.openTimeout, controller.signal)
    try {
      const conn = best ?? await connectionTo(node, this.peer, timed.signal)
      stream = await conn.newStream(opts.protocol, {
        signal: timed.signal,
        runOnLimitedConnection: true,
        maxOutboundStreams: opts.maxOutboundStreams
      })
      proven.add(conn)
    } catch (err: any) {
      call.fail(new StreamOpenError(`Could not open ${opts.protocol} to ${this.peer.toString()}: ${errorMessage(err)}`, { cause: err }))
      return
    } finally {
      timed.clear()
      stopped.removeEventListener('abort', onStop)
      if (probe) {
        this.probing = false
        this.pump()
      }
    }
    if (call.done) {
      stream.abort(new RequestAbortedError('The request was abandoned'))
      return
    }
    const s = stream
    const responseCodec = this.host.responseCodec
    let answered = false
    const onMessage = (evt: Event): void => {
      try {
        reader.push((evt as Event & { data: Uint8Array | Uint8ArrayList }).data)
      } catch (err: any) {
        finish()
        call.fail(err instanceof ProtocolError || err instanceof FrameTooLargeError ? err : withCause(new ProtocolError(`Bad frame from ${this.peer.toString()}: ${errorMessage(err)}`), err))
        s.abort(err)
      }
    }
    const onClose = (evt: Event): void => {
      finish()
      const error = (evt as Event & { error?: Error }).error
      if (error == null && reader.midFrame) {
        call.fail(new ProtocolError('The stream ended in the middle of a frame'))
      } else {
        call.fail(new RequestAbortedError(`The stream to ${this.peer.toString()} closed before a response${error != null ? `: ${error.message}` : ''}`, { cause: error }))
      }
    }
    const finish = (): void => {
      reader.stop()
      s.removeEventListener('message', onMessage)
      s.removeEventListener('close', onClose)
    }
    const sink: FrameSink = {
      frame: (kind, id, payload) => {
        if (id !== 0 || answered) {
          throw new ProtocolError(answered ? 'More than one response on a request stream' : `Response for request ${id} on a request stream`)
        }
        answered = true
        finish()
        if (kind === ERROR) {
          call.fail(remoteError(payload))
        } else {
          decodeInto(responseCodec, payload, call)
        }
      },
      oversized: (kind, id, size, limit) => {
        if (id !== 0 || kind !== RESPONSE) {
          throw new ProtocolError(`Oversized ${kind === ERROR ? 'ERROR' : 'RESPONSE'} frame for request ${id}`)
        }
        answered = true
        finish()
        call.fail(new FrameTooLargeError(size, limit))
        // the rest of the response is of no use: reset rather than read it
        s.abort(new FrameTooLargeError(size, limit))
      }
    }
    const reader = new RequestFrameReader(readerLimits(opts.maxResponseSize), sink)
    s.addEventListener('message', onMessage)
    s.addEventListener('close', onClose)
    try {
      s.send(oneFrame(REQUEST, 0, call.payload))
      s.close().catch(() => {})
    } catch (err: any) {
      finish()
      call.fail(new RequestAbortedError(`Could not write the request: ${errorMessage(err)}`, { cause: err }))
      s.abort(err)
    }
  }

  stop (err: Error): void {
    for (const call of [...this.waiting]) {
      call.fail(err)
    }
    for (const call of [...this.calls]) {
      call.giveUp(err)
    }
    for (const conduit of [this.conduit, ...this.retiring]) {
      conduit?.abort(err)
    }
  }
}

/** A caller accepts RESPONSE (up to its limit) and ERROR frames, nothing else. */
function readerLimits (maxResponseSize: number): number[] {
  return [-1, -1, maxResponseSize, MAX_ERROR_PAYLOAD]
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

/** One frame in one buffer (small payloads) or a list (large ones, by reference). */
function oneFrame (kind: number, id: number, payload: Uint8Array): Uint8Array | Uint8ArrayList {
  const body = 1 + varintLength(id) + payload.byteLength
  const head = new Uint8Array(varintLength(body) + 1 + varintLength(id) + (payload.byteLength <= 4096 ? payload.byteLength : 0))
  let p = writeVarint(body, head, 0)
  head[p++] = kind
  p = writeVarint(id, head, p)
  if (p < head.byteLength) {
    head.set(payload, p)
    return head
  }
  return payload.byteLength === 0 ? head : new Uint8ArrayList(head, payload)
}

/** Multiplexed mode: one stream to a peer carrying many requests. */
class Conduit<Res> implements FrameSink {
  readonly lane: Lane<Res>
  readonly stream: Stream
  readonly rank: number
  readonly inflight = new Map<number, Call<Res>>()
  retired = false
  private nextId = 1
  private closed = false
  private readonly writer: FrameWriter
  private readonly reader: RequestFrameReader
  private idleTimer?: ReturnType<typeof setTimeout>
  private readonly onMessage: (evt: Event) => void
  private readonly onEnd: () => void
  private readonly onClose: (evt: Event) => void

  constructor (lane: Lane<Res>, stream: Stream, conn: Connection) {
    this.lane = lane
    this.stream = stream
    this.rank = connectionRank(conn)
    this.writer = new FrameWriter(stream, (err) => { this.broken(new RequestAbortedError(`Could not write to ${lane.peer.toString()}: ${err.message}`, { cause: err })) })
    this.reader = new RequestFrameReader(readerLimits(lane.host.opts.maxResponseSize), this)
    this.onMessage = (evt) => {
      try {
        this.reader.push((evt as Event & { data: Uint8Array | Uint8ArrayList }).data)
      } catch (err: any) {
        this.broken(err instanceof ProtocolError ? err : withCause(new ProtocolError(`Bad frame from ${lane.peer.toString()}: ${errorMessage(err)}`), err))
      }
    }
    this.onEnd = () => {
      // the remote will not answer any more
      if (this.reader.midFrame) {
        this.broken(new ProtocolError('The stream ended in the middle of a frame'))
      } else if (this.inflight.size > 0) {
        this.broken(new RequestAbortedError(`${lane.peer.toString()} closed the stream with requests in flight`))
      } else {
        this.close()
      }
    }
    this.onClose = (evt) => {
      const error = (evt as Event & { error?: Error }).error
      this.broken(new RequestAbortedError(`The stream to ${lane.peer.toString()} closed${error != null ? `: ${error.message}` : ''}`, { cause: error }), false)
    }
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('end', this.onEnd)
    stream.addEventListener('close', this.onClose)
  }

  send (call: Call<Res>): void {
    const id = this.nextId++
    call.conduit = this
    call.id = id
    this.inflight.set(id, call)
    if (this.idleTimer != null) {
      clearTimeout(this.idleTimer)
      this.idleTimer = undefined
    }
    this.writer.write(REQUEST, id, call.payload)
  }

  /** The caller gave up on `call`: tell the handler. */
  cancel (call: Call<Res>): void {
    if (!this.closed && this.inflight.get(call.id) === call) {
      this.writer.write(CANCEL, call.id)
    }
  }

  /** `call` settled. */
  release (call: Call<Res>): void {
    if (this.inflight.get(call.id) !== call) {
      return
    }
    this.inflight.delete(call.id)
    if (this.inflight.size === 0 && !this.closed) {
      if (this.retired) {
        this.close()
      } else {
        this.armIdle()
      }
    }
  }

  frame (kind: number, id: number, payload: Uint8Array): void {
    const call = this.inflight.get(id)
    if (call == null) {
      this.unknown(id)
      return
    }
    if (kind === ERROR) {
      call.fail(remoteError(payload))
    } else {
      decodeInto(this.lane.host.responseCodec, payload, call)
    }
  }

  oversized (kind: number, id: number, size: number, limit: number): void {
    const call = this.inflight.get(id)
    if (call == null) {
      this.unknown(id)
      return
    }
    call.fail(kind === RESPONSE ? new FrameTooLargeError(size, limit) : new ProtocolError(`Oversized ERROR frame (${size} bytes)`))
  }

  /** A response for a request no longer waiting is normal (it was cancelled); one never sent is not. */
  private unknown (id: number): void {
    if (id === 0 || id >= this.nextId) {
      throw new ProtocolError(`Response for request ${id}, which was never sent`)
    }
  }

  /** Close gracefully (nothing in flight). */
  close (): void {
    if (this.closed) {
      return
    }
    this.detach()
    this.writer.end()
    this.lane.gone(this)
  }

  abort (err: Error): void {
    this.broken(err)
  }

  /** Fail everything in flight on this stream; reset it. */
  private broken (err: Error, reset = true): void {
    if (this.closed) {
      return
    }
    this.detach()
    this.writer.discard()
    if (reset) {
      this.stream.abort(err)
    }
    for (const call of [...this.inflight.values()]) {
      call.fail(err)
    }
    this.inflight.clear()
    this.lane.gone(this)
  }

  private detach (): void {
    this.closed = true
    clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    this.reader.stop()
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('end', this.onEnd)
    this.stream.removeEventListener('close', this.onClose)
    if (this.lane.conduit === this) {
      this.lane.conduit = undefined
    }
  }

  /** Close after `idleTimeout` unless a request comes first. */
  armIdle (): void {
    const idle = this.lane.host.opts.idleTimeout
    if (this.closed || this.inflight.size > 0 || !Number.isFinite(idle)) {
      return
    }
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.inflight.size === 0) {
        this.close()
      }
    }, idle)
  }
}

/** The calling side of one requestor. */
export class RequestClient<Res> implements ClientHost<Res> {
  readonly node: ClientNode
  readonly opts: ClientOptions
  readonly responseCodec: Codec<Res>
  readonly signal: AbortSignal
  stopped = false
  queued = 0
  private readonly lanes = new Map<string, Lane<Res>>()
  private readonly controller = stopController()

  constructor (node: ClientNode, opts: ClientOptions, responseCodec: Codec<Res>) {
    this.node = node
    this.opts = opts
    this.responseCodec = responseCodec
    this.signal = this.controller.signal
  }

  /** Send an encoded request; resolves with the decoded response. */
  async call (peer: PeerId, payload: Uint8Array, options: CallOptions = {}): Promise<Res> {
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
    const { promise, resolve, reject } = Promise.withResolvers<Res>()
    const call = new Call<Res>(lane, payload, resolve, reject)
    call.arm(options.timeout ?? this.opts.timeout, options.signal)
    lane.submit(call)
    return promise
  }

  /** Requests in flight or waiting, to one peer or to all. */
  pending (peer?: PeerId): number {
    if (peer != null) {
      const lane = this.lanes.get(peer.toString())
      return lane != null ? lane.inFlight + lane.waiting.size : 0
    }
    let n = 0
    for (const lane of this.lanes.values()) {
      n += lane.inFlight + lane.waiting.size
    }
    return n
  }

  /** Open request streams (multiplexed mode), for diagnostics and tests. */
  streams (peer?: PeerId): Stream[] {
    const out: Stream[] = []
    for (const lane of this.lanes.values()) {
      if (peer != null && !lane.peer.equals(peer)) {
        continue
      }
      for (const conduit of [lane.conduit, ...lane.retiring]) {
        if (conduit != null) {
          out.push(conduit.stream)
        }
      }
    }
    return out
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
