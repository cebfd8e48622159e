/**
 * The answering side of request/response.
 *
 * Each inbound stream is read frame by frame; each REQUEST runs the handler
 * with a signal that aborts when the caller cancels (a CANCEL frame, or a
 * reset stream in stream mode), when the handler runs longer than
 * `handlerTimeout`, when the stream or connection goes away, and on `stop()`.
 * At most `maxConcurrentPerPeer` handlers run for one peer (across its
 * streams and connections); more are refused at once with an ERROR frame
 * (`ERR_TOO_MANY_REQUESTS`), without decoding them.
 *
 * A handler's thrown error is sent as an ERROR frame: its `code` (when it is
 * a string) and its message, never its stack. Responses go out in batches,
 * one `stream.send()` per tick; when a caller does not read its responses,
 * the stream's reading pauses until they are written, so the transport's flow
 * control stops the caller rather than memory filling up here.
 */
import { MessengerStoppedError } from '../errors.js'
import { ProtocolError, RequestAbortedError, RequestTimeoutError } from './errors.js'
import {
  CANCEL, ERR_ENCODE, ERR_MALFORMED_REQUEST, ERR_REMOTE, ERR_REQUEST_TOO_LARGE, ERR_RESPONSE_TOO_LARGE, ERR_TIMEOUT,
  ERR_TOO_MANY_REQUESTS, ERROR, FrameStream, REQUEST, RESPONSE, encodeError
} from './wire.js'
import { MAX_ERROR_CODE_LENGTH, STREAM_HIGH_WATER } from './constants.js'
import type { RequestSettings } from './constants.js'
import type { Codec } from '../core/codec.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'

/** What a handler gets besides the request. */
export interface HandlerContext {
  /** The calling peer. */
  readonly from: PeerId
  /**
   * Aborts when the caller cancels or times out, when the handler runs longer
   * than `handlerTimeout`, when the connection drops, or when the requestor
   * stops. Pass it to whatever the handler awaits.
   */
  readonly signal: AbortSignal
  /** The connection the request came on. */
  readonly connection: Connection
}

/**
 * Answers one request. Return (or resolve with) the response; throw (or
 * reject) to send the caller a `RemoteError` with the error's message and, when
 * it has a string `code`, that code.
 */
export type RequestHandler<Req, Res> = (request: Req, context: HandlerContext) => Res | Promise<Res>

/** The code sent for a thrown value: its string `code`, else `ERR_REMOTE`. */
function codeOf (err: any): string {
  const code = err?.code
  return typeof code === 'string' && code.length > 0 && code.length <= MAX_ERROR_CODE_LENGTH ? code : ERR_REMOTE
}

function messageOf (err: any): string {
  if (err instanceof Error || (err != null && typeof err.message === 'string')) {
    return String(err.message)
  }
  return String(err)
}

/** One request being handled. */
class Handling<Req, Res> implements HandlerContext {
  readonly id: number
  readonly owner: InboundStream<Req, Res>
  private controller?: AbortController
  /** why the signal aborted, for a handler that first looks at it afterwards */
  private reason?: Error
  private timer?: ReturnType<typeof setTimeout>
  done = false

  constructor (owner: InboundStream<Req, Res>, id: number) {
    this.owner = owner
    this.id = id
  }

  get from (): PeerId {
    return this.owner.connection.remotePeer
  }

  get connection (): Connection {
    return this.owner.connection
  }

  /** Created on first use: most handlers never look at it. */
  get signal (): AbortSignal {
    this.controller ??= new AbortController()
    if (this.reason != null) {
      this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  private abortSignal (reason: Error): void {
    this.reason = reason
    this.controller?.abort(reason)
  }

  run (handler: RequestHandler<Req, Res>, request: Req, timeout: number): void {
    if (Number.isFinite(timeout)) {
      this.timer = setTimeout(() => { this.timedOut(timeout) }, timeout)
    }
    let result: Res | Promise<Res>
    try {
      result = handler(request, this)
    } catch (err) {
      this.failed(err)
      return
    }
    if (result != null && typeof (result as any).then === 'function') {
      (result as Promise<Res>).then((value) => { this.answer(value) }, (err) => { this.failed(err) })
    } else {
      this.answer(result as Res)
    }
  }

  private answer (value: Res): void {
    this.finish(() => { this.owner.respond(this.id, value) })
  }

  private failed (err: unknown): void {
    this.finish(() => { this.owner.writeError(this.id, codeOf(err), messageOf(err)) })
  }

  private timedOut (ms: number): void {
    const message = `The handler did not answer within ${ms} ms`
    this.finish(() => {
      this.abortSignal(new RequestTimeoutError(message))
      this.owner.writeError(this.id, ERR_TIMEOUT, message)
    })
  }

  /** The caller cancelled, the stream went away, or the requestor stopped: no answer. */
  abort (reason: Error): void {
    this.finish(() => { this.abortSignal(reason) })
  }

  /** Settle once: `last` runs (writing the answer) before the slot is released. */
  private finish (last: () => void): void {
    if (this.done) {
      return
    }
    this.done = true
    clearTimeout(this.timer)
    try {
      last()
    } finally {
      this.owner.finished(this)
    }
  }
}

/** One inbound request stream (multiplexed: many requests; stream mode: one). */
class InboundStream<Req, Res> extends FrameStream {
  readonly connection: Connection
  readonly peerKey: string
  private readonly host: RequestServer<Req, Res>
  /** stream mode: exactly one request, answered, then our side closes */
  private readonly single: boolean
  private readonly calls = new Map<number, Handling<Req, Res>>()
  private requests = 0
  private remoteEnded = false
  private paused = false

  constructor (host: RequestServer<Req, Res>, stream: Stream, connection: Connection, single: boolean) {
    // a handler accepts REQUEST (up to its limit) and empty CANCEL frames, nothing else
    super(stream, [host.opts.maxRequestSize, 0, -1, -1])
    this.host = host
    this.connection = connection
    this.peerKey = connection.remotePeer.toString()
    this.single = single
    this.writer.onFlushed = () => { this.flushed() }
  }

  protected garbage (err: ProtocolError): void {
    this.fail(err, true)
  }

  protected ended (): void {
    this.remoteEnded = true
    this.maybeEnd()
  }

  protected gone (error?: Error): void {
    // the caller reset the stream (stream mode: that is how it cancels), or the connection went away
    this.shutdown(new RequestAbortedError(error != null ? `The stream was reset: ${error.message}` : 'The stream closed', { cause: error }))
  }

  protected writeFailed (err: Error): void {
    this.fail(err)
  }

  frame (kind: number, id: number, payload: Uint8Array): void {
    if (kind === CANCEL) {
      this.calls.get(id)?.abort(new RequestAbortedError('The caller cancelled the request'))
      return
    }
    this.count(id)
    if (this.calls.has(id)) {
      throw new ProtocolError(`Request id ${id} is already in progress`)
    }
    if (!this.host.acquire(this.peerKey)) {
      this.writeError(id, ERR_TOO_MANY_REQUESTS, `Too many requests in progress from this peer (limit ${this.host.opts.maxConcurrentPerPeer})`)
      return
    }
    const handling = new Handling<Req, Res>(this, id)
    this.calls.set(id, handling)
    let request: Req
    try {
      request = this.host.requestCodec.decode(payload)
    } catch (err: any) {
      this.writeError(id, ERR_MALFORMED_REQUEST, `Could not decode the request: ${err?.message ?? err}`)
      handling.abort(err)
      return
    }
    // registered only once a handler is set
    handling.run(this.host.handler as RequestHandler<Req, Res>, request, this.host.opts.handlerTimeout)
  }

  oversized (kind: number, id: number, size: number, limit: number): void {
    if (kind !== REQUEST) {
      throw new ProtocolError(`A ${kind === CANCEL ? 'CANCEL' : 'caller'} frame with ${size} bytes of payload`)
    }
    this.count(id)
    this.writeError(id, ERR_REQUEST_TOO_LARGE, `Request of ${size} bytes exceeds the limit of ${limit} bytes`)
  }

  /** One more REQUEST: a request stream carries exactly one, with id 0. */
  private count (id: number): void {
    this.requests++
    if (this.single && (id !== 0 || this.requests > 1)) {
      throw new ProtocolError(this.requests > 1 ? 'More than one request on a request stream' : `Request id ${id} on a request stream (must be 0)`)
    }
  }

  /** Send the handler's value. */
  respond (id: number, value: Res): void {
    if (this.closed) {
      return
    }
    let bytes: Uint8Array
    try {
      bytes = this.host.responseCodec.encode(value)
    } catch (err: any) {
      const error = new Error(`Could not encode the response: ${err?.message ?? err}`, { cause: err })
      this.host.error(this.connection.remotePeer, error)
      this.writeError(id, ERR_ENCODE, error.message)
      return
    }
    if (bytes.byteLength > this.host.opts.maxResponseSize) {
      this.writeError(id, ERR_RESPONSE_TOO_LARGE, `Response of ${bytes.byteLength} bytes exceeds the limit of ${this.host.opts.maxResponseSize} bytes`)
      return
    }
    this.write(RESPONSE, id, bytes)
  }

  writeError (id: number, code: string, message: string): void {
    if (!this.closed) {
      this.write(ERROR, id, encodeError(code, message))
    }
  }

  private write (kind: number, id: number, payload: Uint8Array): void {
    this.writer.write(kind, id, payload)
    if (this.single) {
      // the one answer: then our side is done
      this.writer.end()
    } else if (!this.paused && this.writer.backlog > STREAM_HIGH_WATER && this.stream.readStatus === 'readable') {
      // the caller is not reading its responses: stop reading its requests
      this.paused = true
      this.stream.pause()
    }
  }

  private flushed (): void {
    if (this.paused && !this.closed) {
      this.paused = false
      if (this.stream.readStatus === 'paused') {
        this.stream.resume()
      }
    }
  }

  /** A handling ended (answered, failed, cancelled or abandoned). */
  finished (handling: Handling<Req, Res>): void {
    if (this.calls.get(handling.id) === handling) {
      this.calls.delete(handling.id)
      this.host.release(this.peerKey)
    }
    this.maybeEnd()
  }

  /** The caller is done writing and nothing is in progress: close our side too. */
  private maybeEnd (): void {
    if (this.remoteEnded && this.calls.size === 0 && !this.closed) {
      this.writer.end()
    }
  }

  /** Bad input or a failed write: reset the stream. */
  private fail (err: Error, report = false): void {
    if (this.closed) {
      return
    }
    if (report) {
      this.host.error(this.connection.remotePeer, err)
    }
    this.shutdown(err)
    this.stream.abort(err)
  }

  /** Abandon everything in progress; release the stream. */
  shutdown (reason: Error): void {
    if (!this.detach()) {
      return
    }
    this.writer.discard()
    for (const handling of [...this.calls.values()]) {
      handling.abort(reason)
    }
    this.host.closed(this)
  }

  /** stop(): reset the stream and abandon everything in progress. */
  stop (): void {
    const err = new MessengerStoppedError('The requestor is stopped')
    this.shutdown(err)
    this.stream.abort(err)
  }
}

/** The answering side of one requestor. */
export class RequestServer<Req, Res> {
  readonly opts: RequestSettings
  readonly requestCodec: Codec<Req>
  readonly responseCodec: Codec<Res>
  handler?: RequestHandler<Req, Res>
  private readonly perPeer = new Map<string, number>()
  private readonly streams = new Set<InboundStream<Req, Res>>()
  private readonly onError: (peer: PeerId, err: Error) => void
  private stopped = false

  constructor (opts: RequestSettings, requestCodec: Codec<Req>, responseCodec: Codec<Res>, onError: (peer: PeerId, err: Error) => void) {
    this.opts = opts
    this.requestCodec = requestCodec
    this.responseCodec = responseCodec
    this.onError = onError
  }

  /** A new inbound stream; `single` for stream mode. */
  accept (stream: Stream, connection: Connection, single: boolean): void {
    if (this.stopped) {
      stream.abort(new MessengerStoppedError('The requestor is stopped'))
      return
    }
    this.streams.add(new InboundStream(this, stream, connection, single))
  }

  /** Count one more handler for `peer`; false when the peer is at its limit. */
  acquire (peer: string): boolean {
    const n = this.perPeer.get(peer) ?? 0
    if (n >= this.opts.maxConcurrentPerPeer) {
      return false
    }
    this.perPeer.set(peer, n + 1)
    return true
  }

  release (peer: string): void {
    const n = (this.perPeer.get(peer) ?? 1) - 1
    if (n <= 0) {
      this.perPeer.delete(peer)
    } else {
      this.perPeer.set(peer, n)
    }
  }

  closed (stream: InboundStream<Req, Res>): void {
    this.streams.delete(stream)
  }

  error (peer: PeerId, err: Error): void {
    this.onError(peer, err)
  }

  /** Handlers running, for one peer or in all. */
  handling (peer?: PeerId): number {
    if (peer != null) {
      return this.perPeer.get(peer.toString()) ?? 0
    }
    let n = 0
    for (const count of this.perPeer.values()) {
      n += count
    }
    return n
  }

  stop (): void {
    this.stopped = true
    for (const stream of [...this.streams]) {
      stream.stop()
    }
    this.streams.clear()
    this.perPeer.clear()
  }
}
