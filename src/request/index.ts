/**
 * @packageDocumentation
 *
 * `libp2p-messenger/request`: request/response between peers, typed, with
 * timeouts, cancellation and per-peer limits; many requests on one stream
 * per peer (default) or a stream per request.
 *
 * @example
 *
 * ```ts
 * import { string } from 'libp2p-messenger'
 * import { createRequestor } from 'libp2p-messenger/request'
 *
 * const echo = createRequestor(node, { protocol: '/echo/1.0.0', requestCodec: string(), responseCodec: string() })
 * await echo.handle(async (text) => text.toUpperCase())
 * const answer = await echo.request(peerId, 'hello', { timeout: 5_000 }) // 'HELLO'
 * ```
 */
import '../util/polyfill.js'

export { createRequestor } from './requestor.js'
export type { Requestor, RequestorInit, RequestOptions, RequestMode, RequestHandler, HandlerContext, RequestorNode, RequestorEvents, RequestErrorDetail } from './requestor.js'
export { RequestTimeoutError, RemoteError, TooManyRequestsError, RequestAbortedError, ProtocolError } from './errors.js'
