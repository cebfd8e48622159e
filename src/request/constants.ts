/**
 * Every default, limit and protocol constant of request/response, in one
 * place. The `RequestorInit` option of the same meaning overrides the
 * `DEFAULT_*` ones.
 */
import { DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_INBOUND_STREAMS, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_OPEN_TIMEOUT } from '../core/constants.js'

/** How a requestor's own requests travel (its handler answers both). */
export type RequestMode = 'multiplexed' | 'stream'

/** Wire mode of a requestor's requests. @default 'multiplexed' */
export const DEFAULT_REQUEST_MODE: RequestMode = 'multiplexed'

/** Suffix of the multiplexed mode's protocol id (`<protocol>/mux`); stream mode uses the id as given. @default '/mux' */
export const MULTIPLEXED_SUFFIX = '/mux'

/**
 * How long a request waits for its response (including dialing and opening a
 * stream) before it fails with `RequestTimeoutError`.
 *
 * @default 10 s
 */
export const DEFAULT_REQUEST_TIMEOUT = 10_000

/**
 * How long a handler may run before the caller is sent a timeout error
 * (`RequestTimeoutError` on its side) and the handler's signal aborts, so a
 * handler that never answers cannot hold a slot forever.
 *
 * @default 30 s
 */
export const DEFAULT_HANDLER_TIMEOUT = 30_000

/** How long dialing and opening a request stream may take. @default 10 s (the messenger's `DEFAULT_OPEN_TIMEOUT`) */
export const DEFAULT_REQUEST_OPEN_TIMEOUT = DEFAULT_OPEN_TIMEOUT

/** Multiplexed mode: a peer's stream closes after this long without requests. @default 60 s (the messenger's `DEFAULT_IDLE_TIMEOUT`) */
export const DEFAULT_REQUEST_IDLE_TIMEOUT = DEFAULT_IDLE_TIMEOUT

/** Largest encoded request, in bytes. @default 1 MiB */
export const DEFAULT_MAX_REQUEST_SIZE = DEFAULT_MAX_MESSAGE_SIZE

/** Largest encoded response, in bytes. @default 1 MiB */
export const DEFAULT_MAX_RESPONSE_SIZE = DEFAULT_MAX_MESSAGE_SIZE

/**
 * Handlers running at once for one calling peer; further requests from that
 * peer are refused with `TooManyRequestsError` until one finishes.
 *
 * @default 64
 */
export const DEFAULT_MAX_CONCURRENT_PER_PEER = 64

/**
 * Requests on the wire to one peer at once; more wait in order (the same as
 * the default `maxConcurrentPerPeer`, so a default caller never exceeds a
 * default handler's limit).
 *
 * @default 64
 */
export const DEFAULT_MAX_IN_FLIGHT_PER_PEER = 64

/**
 * Requests waiting for a slot, across all peers; beyond it `request()` fails
 * at once with `QueueFullError`.
 *
 * @default 10_000
 */
export const DEFAULT_MAX_QUEUED_REQUESTS = 10_000

/**
 * libp2p's per-connection stream limits (`maxInboundStreams`,
 * `maxOutboundStreams`) of one mode's protocol, for a side allowing
 * `maxConcurrentPerPeer` handlers and `maxInFlightPerPeer` requests. The
 * multiplexed protocol needs one stream per peer. Stream mode needs one per
 * request, and libp2p counts streams still closing too (a WebRTC stream waits
 * up to 10 s for its FIN_ACK), so our own per-peer limits come first and
 * libp2p's only stop abuse.
 *
 * @default multiplexed: 8 (the messenger's `DEFAULT_MAX_INBOUND_STREAMS`); stream: 4 × the per-peer limit + 32
 */
export function streamLimits (mode: RequestMode, s: Pick<RequestSettings, 'maxConcurrentPerPeer' | 'maxInFlightPerPeer'>): { maxInboundStreams: number, maxOutboundStreams: number } {
  return mode === 'multiplexed'
    ? { maxInboundStreams: DEFAULT_MAX_INBOUND_STREAMS, maxOutboundStreams: DEFAULT_MAX_INBOUND_STREAMS }
    : { maxInboundStreams: 4 * s.maxConcurrentPerPeer + 32, maxOutboundStreams: 4 * s.maxInFlightPerPeer + 32 }
}

/** Every tunable of a requestor, defaults applied. */
export interface RequestSettings {
  mode: RequestMode
  timeout: number
  handlerTimeout: number
  openTimeout: number
  idleTimeout: number
  maxRequestSize: number
  maxResponseSize: number
  maxConcurrentPerPeer: number
  maxInFlightPerPeer: number
  maxQueuedRequests: number
}

/** `init` with the defaults above where it says nothing. */
export function requestSettings (init: Partial<RequestSettings>): RequestSettings {
  return {
    mode: init.mode ?? DEFAULT_REQUEST_MODE,
    timeout: init.timeout ?? DEFAULT_REQUEST_TIMEOUT,
    handlerTimeout: init.handlerTimeout ?? DEFAULT_HANDLER_TIMEOUT,
    openTimeout: init.openTimeout ?? DEFAULT_REQUEST_OPEN_TIMEOUT,
    idleTimeout: init.idleTimeout ?? DEFAULT_REQUEST_IDLE_TIMEOUT,
    maxRequestSize: init.maxRequestSize ?? DEFAULT_MAX_REQUEST_SIZE,
    maxResponseSize: init.maxResponseSize ?? DEFAULT_MAX_RESPONSE_SIZE,
    maxConcurrentPerPeer: init.maxConcurrentPerPeer ?? DEFAULT_MAX_CONCURRENT_PER_PEER,
    maxInFlightPerPeer: init.maxInFlightPerPeer ?? DEFAULT_MAX_IN_FLIGHT_PER_PEER,
    maxQueuedRequests: init.maxQueuedRequests ?? DEFAULT_MAX_QUEUED_REQUESTS
  }
}

/** Longest error code sent, in characters (longer ones are replaced by `ERR_REMOTE`). @default 64 */
export const MAX_ERROR_CODE_LENGTH = 64

/** Longest error message sent, in characters (longer ones are cut). @default 1024 */
export const MAX_ERROR_MESSAGE_LENGTH = 1024

/** Largest ERROR payload a caller accepts (a code and a message, UTF-8). @default 4360 bytes */
export const MAX_ERROR_PAYLOAD = 4 * (MAX_ERROR_CODE_LENGTH + MAX_ERROR_MESSAGE_LENGTH) + 8

/** Longest length prefix accepted (frames up to 32 GiB can be skipped, never buffered). @default 5 bytes */
export const MAX_PREFIX_BYTES = 5

/** Longest request id accepted, in varint bytes (and at most 2^53 - 1). @default 8 bytes */
export const MAX_ID_BYTES = 8

/** Payloads up to this size are copied into a writer's batch buffer; larger ones are sent by reference. @default 4 KiB */
export const INLINE_PAYLOAD = 4096

/**
 * Bytes a stream may hold in its own write buffer before a writer stops
 * adding more (yamux signals 'drain' on every window update, however small);
 * a handler whose caller leaves this much unread pauses reading its requests.
 *
 * @default 1 MiB
 */
export const STREAM_HIGH_WATER = 1024 * 1024
