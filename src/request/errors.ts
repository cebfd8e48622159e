/**
 * What a request can fail with, besides the messenger's own errors. Where
 * @libp2p/interface has the class it is used: `ProtocolError` (re-exported),
 * and `RequestTimeoutError` is a `TimeoutError`.
 */
import { ProtocolError, TimeoutError } from '@libp2p/interface'

export { ProtocolError }

/** A request timed out before its response arrived (a `TimeoutError`). */
export class RequestTimeoutError extends TimeoutError {
  static override name = 'RequestTimeoutError'
  override name = 'RequestTimeoutError'
}

/** The remote handler threw; `message` is the remote error's message (no stack crosses the wire). */
export class RemoteError extends Error {
  static override name = 'RemoteError'
  override name = 'RemoteError'
  constructor (message: string, readonly code: string = 'ERR_REMOTE') {
    super(message)
  }
}

/** The remote refused a request because this peer has too many requests in progress there. */
export class TooManyRequestsError extends Error {
  static override name = 'TooManyRequestsError'
  override name = 'TooManyRequestsError'
}

/** A request could not be completed because its connection or stream went away. */
export class RequestAbortedError extends Error {
  static override name = 'RequestAbortedError'
  override name = 'RequestAbortedError'
}
