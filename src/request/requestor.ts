/**
 * Request/response over libp2p: typed requests, typed responses, remote
 * errors, timeouts, cancellation and limits, without the per-protocol
 * boilerplate (open a stream, write, read one reply, close, time out).
 *
 * ```ts
 * const echo = createRequestor(node, { protocol: '/echo/1.0.0', requestCodec: string(), responseCodec: string() })
 * await echo.handle(async (text, { from, signal }) => text.toUpperCase())
 * const answer = await echo.request(peerId, 'hello', { timeout: 5_000 })   // 'HELLO'
 * ```
 *
 * Two wire modes, one API (see docs/request-response.md for both wire formats
 * and the measurements behind the default): `'multiplexed'` (the default)
 * keeps one stream per peer and carries every request on it with a request id;
 * `'stream'` opens a new stream per request, the libp2p convention. A
 * requestor that handles requests answers both.
 */
import { TypedEventEmitter } from 'main-event'
import { MessageTooLargeError, MessengerStoppedError } from '../errors.js'
import { RequestClient } from './client.js'
import { MULTIPLEXED_SUFFIX, requestSettings, streamLimits } from './constants.js'
import { RequestServer } from './server.js'
import type { Codec } from '../core/codec.js'
import type { RequestMode, RequestSettings } from './constants.js'
import type { RequestHandler } from './server.js'
import type { AbortOptions, Libp2p, PeerId, Stream } from '@libp2p/interface'

export type { RequestMode } from './constants.js'
export type { HandlerContext, RequestHandler } from './server.js'

/** The parts of a libp2p node a requestor uses. */
export type RequestorNode = Pick<Libp2p, 'getConnections' | 'dial' | 'handle' | 'unhandle'>

export interface RequestorInit<Req, Res> {
  /**
   * Protocol id, e.g. `/echo/1.0.0`. Stream mode uses it as is; multiplexed
   * mode uses `<protocol>/mux`.
   */
  protocol: string
  requestCodec: Codec<Req>
  responseCodec: Codec<Res>
  /** The handler, if this requestor answers requests (or call `handle()` later). */
  handler?: RequestHandler<Req, Res>
  /**
   * `'multiplexed'`: one stream per peer, many requests on it, each with an id.
   * `'stream'`: a new stream per request. Only affects requests this side
   * sends; the handler answers both.
   *
   * @default 'multiplexed'
   */
  mode?: RequestMode
  /**
   * Largest encoded request. A larger one fails `request()` with
   * `MessageTooLargeError` before anything is sent; a handler receiving one
   * skips it unread and answers `RemoteError` code `ERR_REQUEST_TOO_LARGE`.
   *
   * @default 1 MiB
   */
  maxRequestSize?: number
  /**
   * Largest encoded response. A handler whose response is larger answers
   * `RemoteError` code `ERR_RESPONSE_TOO_LARGE`; a caller receiving a larger
   * one skips it unread and fails that request with `FrameTooLargeError`.
   *
   * @default 1 MiB
   */
  maxResponseSize?: number
  /** Per-request timeout, unless `request()` is given one. @default 10 s */
  timeout?: number
  /** How long a handler may run. @default 30 s */
  handlerTimeout?: number
  /** Handlers running at once per calling peer. @default 64 */
  maxConcurrentPerPeer?: number
  /** Requests on the wire to one peer at once; more wait. @default 64 */
  maxInFlightPerPeer?: number
  /** Requests waiting for a slot, all peers. @default 10_000 */
  maxQueuedRequests?: number
  /** How long dialing and opening a stream may take. @default 10 s */
  openTimeout?: number
  /** Multiplexed mode: close a peer's stream after this long without requests. @default 60 s */
  idleTimeout?: number
}

export interface RequestOptions extends AbortOptions {
  /**
   * Milliseconds to wait for the response, including dialing and opening a
   * stream. `Infinity` waits as long as the connection lives.
   *
   * @default the requestor's `timeout` (10 s)
   */
  timeout?: number
}

/** Something a requestor handled: a peer sent garbage, a response could not be encoded. */
export interface RequestErrorDetail {
  peer?: PeerId
  error: Error
}

export interface RequestorEvents {
  error: CustomEvent<RequestErrorDetail>
}

export interface Requestor<Req, Res> {
  /** The protocol id as given (multiplexed mode adds `/mux` on the wire). */
  readonly protocol: string
  /** The mode of this requestor's requests. */
  readonly mode: RequestMode
  /** Resolves once the handler's protocols are registered (at once if there is no handler). */
  readonly ready: Promise<void>
  /**
   * Send `request` to `peer` and resolve with the response. The peer is dialed
   * and a stream opened as needed.
   *
   * Rejects with:
   * - `RequestTimeoutError`: no response within the timeout (the handler's signal is aborted);
   * - the signal's reason (an `AbortError` by default) when `options.signal` aborts;
   * - `RemoteError` (`message`, `code`): the handler threw; `TooManyRequestsError`: the peer
   *   has `maxConcurrentPerPeer` of our requests in progress;
   * - `RequestAbortedError`: the stream or connection went away first;
   * - `ProtocolError`: the peer answered with something that is not a response;
   * - `MessageTooLargeError` / `FrameTooLargeError`: the request / the response is over its limit;
   * - `StreamOpenError`: the peer could not be dialed or does not speak the protocol;
   * - `QueueFullError`: `maxQueuedRequests` are waiting already;
   * - `MessengerStoppedError`: the requestor was stopped.
   *
   * A request is sent at most once; nothing is retried.
   */
  request(peer: PeerId, request: Req, options?: RequestOptions): Promise<Res>
  /**
   * Answer requests with `handler` (replacing any earlier one). Resolves once
   * the protocols are registered.
   */
  handle(handler: RequestHandler<Req, Res>, options?: AbortOptions): Promise<void>
  /** Our requests in flight or waiting, to one peer or to all. */
  pending(peer?: PeerId): number
  /** Handlers running, for one calling peer or for all. */
  handling(peer?: PeerId): number
  /** Release every stream, timer and listener; pending requests fail with `MessengerStoppedError`, running handlers' signals abort. */
  stop(): Promise<void>
  addEventListener: TypedEventEmitter<RequestorEvents>['addEventListener']
  removeEventListener: TypedEventEmitter<RequestorEvents>['removeEventListener']
}

class RequestorImpl<Req, Res> extends TypedEventEmitter<RequestorEvents> implements Requestor<Req, Res> {
  readonly protocol: string
  readonly mode: RequestMode
  private readonly node: RequestorNode
  private readonly requestCodec: Codec<Req>
  private readonly settings: RequestSettings
  private readonly client: RequestClient<Res>
  private readonly server: RequestServer<Req, Res>
  private readonly protocols: Record<RequestMode, string>
  private registration?: Promise<void>
  private stopped = false

  constructor (node: RequestorNode, init: RequestorInit<Req, Res>) {
    super()
    this.node = node
    this.protocol = init.protocol
    this.requestCodec = init.requestCodec
    this.settings = requestSettings(init)
    this.mode = this.settings.mode
    this.protocols = { multiplexed: `${init.protocol}${MULTIPLEXED_SUFFIX}`, stream: init.protocol }
    this.client = new RequestClient<Res>(node, this.settings, this.protocols[this.mode], init.responseCodec)
    this.server = new RequestServer<Req, Res>(this.settings, init.requestCodec, init.responseCodec, (peer, error) => {
      this.safeDispatchEvent('error', { detail: { peer, error } })
    })
    if (init.handler != null) {
      // surfaced through `ready`
      this.handle(init.handler).catch(() => {})
    }
  }

  get ready (): Promise<void> {
    return this.registration ?? Promise.resolve()
  }

  async request (peer: PeerId, request: Req, options?: RequestOptions): Promise<Res> {
    if (this.stopped) {
      throw new MessengerStoppedError('The requestor is stopped')
    }
    const payload = this.requestCodec.encode(request)
    if (payload.byteLength > this.settings.maxRequestSize) {
      throw new MessageTooLargeError(payload.byteLength, this.settings.maxRequestSize)
    }
    return this.client.call(peer, payload, options)
  }

  async handle (handler: RequestHandler<Req, Res>, options?: AbortOptions): Promise<void> {
    if (this.stopped) {
      throw new MessengerStoppedError('The requestor is stopped')
    }
    this.server.handler = handler
    this.registration ??= this.register(options).catch((err: Error) => {
      // let a later handle() try again
      this.registration = undefined
      throw err
    })
    return this.registration
  }

  private async register (options?: AbortOptions): Promise<void> {
    await Promise.all((['multiplexed', 'stream'] as const).map(async (mode) => {
      await this.node.handle(this.protocols[mode], (stream: Stream, connection) => { this.server.accept(stream, connection, mode === 'stream') }, {
        ...options,
        runOnLimitedConnection: true,
        ...streamLimits(mode, this.settings)
      })
    }))
    if (this.stopped) {
      await this.unregister()
    }
  }

  private async unregister (): Promise<void> {
    await this.node.unhandle([this.protocols.multiplexed, this.protocols.stream]).catch(() => {})
  }

  pending (peer?: PeerId): number {
    return this.client.pending(peer)
  }

  handling (peer?: PeerId): number {
    return this.server.handling(peer)
  }

  /** Open multiplexed streams of this requestor's requests (diagnostics, tests). */
  streams (peer?: PeerId): Stream[] {
    return this.client.streams(peer)
  }

  async stop (): Promise<void> {
    if (this.stopped) {
      return
    }
    this.stopped = true
    this.client.stop()
    this.server.stop()
    if (this.registration != null) {
      await this.registration.catch(() => {})
      await this.unregister()
    }
  }
}

/**
 * Create a requestor on a started libp2p node: `request()` to call peers,
 * `handle()` to answer them.
 *
 * ```ts
 * type Req = { path: string }
 * type Res = { status: number, body: string }
 * const api = createRequestor<Req, Res>(node, { protocol: '/api/1.0.0', requestCodec: json(), responseCodec: json() })
 * await api.handle(async ({ path }, { signal }) => ({ status: 200, body: await load(path, { signal }) }))
 * const res = await api.request(peerId, { path: '/' }, { timeout: 5_000 })
 * ```
 */
export function createRequestor<Req, Res> (node: RequestorNode, init: RequestorInit<Req, Res>): Requestor<Req, Res> {
  return new RequestorImpl<Req, Res>(node, init)
}
