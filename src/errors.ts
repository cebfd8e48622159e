/**
 * One error class per failure, each with a stable `name` (the js-libp2p
 * convention). Where @libp2p/interface has the class (`StreamResetError`,
 * `ProtocolError`, `TimeoutError`), that one is used.
 */
import { StreamResetError } from '@libp2p/interface'

/** A message encodes to more bytes than the channel's `maxMessageSize`. Thrown synchronously by `send()`. */
export class MessageTooLargeError extends Error {
  static override name = 'MessageTooLargeError'
  override name = 'MessageTooLargeError'
  constructor (readonly size: number, readonly limit: number) {
    super(`Message of ${size} bytes exceeds the limit of ${limit} bytes`)
  }
}

/** A peer announced a frame longer than the receiving channel allows. The stream is reset before any allocation. */
export class FrameTooLargeError extends Error {
  static override name = 'FrameTooLargeError'
  override name = 'FrameTooLargeError'
  constructor (readonly size: number, readonly limit: number) {
    super(`Incoming frame of ${size} bytes exceeds the limit of ${limit} bytes`)
  }
}

/** A length prefix was not a minimal unsigned varint, or was longer than any allowed length needs. */
export class InvalidFrameError extends Error {
  static override name = 'InvalidFrameError'
  override name = 'InvalidFrameError'
}

/** A stream ended in the middle of a frame. */
export class TruncatedFrameError extends Error {
  static override name = 'TruncatedFrameError'
  override name = 'TruncatedFrameError'
}

/** The codec could not decode a frame's bytes. The stream that carried it is reset. */
export class MalformedMessageError extends Error {
  static override name = 'MalformedMessageError'
  override name = 'MalformedMessageError'
}

/** `send()` with the `'error'` queue policy while the queue is full. */
export class QueueFullError extends Error {
  static override name = 'QueueFullError'
  override name = 'QueueFullError'
}

/** The messenger (or the handle) was stopped. */
export class MessengerStoppedError extends Error {
  static override name = 'MessengerStoppedError'
  override name = 'MessengerStoppedError'
  constructor (message = 'The messenger is stopped') {
    super(message)
  }
}

/** Opening a stream or dialing a peer failed; the messenger retries with backoff. */
export class StreamOpenError extends Error {
  static override name = 'StreamOpenError'
  override name = 'StreamOpenError'
}

/**
 * An outbound stream was reset or closed by the remote or the transport:
 * `StreamResetError` from @libp2p/interface (re-exported), with the cause.
 */
export { StreamResetError }

/** The receiving side stopped reading a stream because the application did not keep up. */
export class InboundOverflowError extends Error {
  static override name = 'InboundOverflowError'
  override name = 'InboundOverflowError'
}

/** The outbox storage failed (quota, a closed or blocked database). Messages stay queued in memory. */
export class StorageError extends Error {
  static override name = 'StorageError'
  override name = 'StorageError'
}

/**
 * A readable message for anything thrown or rejected: an Error's message, a
 * DOM Event's type (a failed WebSocket rejects with a bare Event), or the value.
 */
export function errorMessage (err: unknown): string {
  if (err instanceof Error) {
    return err.message
  }
  if (typeof Event !== 'undefined' && err instanceof Event) {
    if ((err as any).message != null) {
      return `${err.type} event: ${(err as any).message}`
    }
    // a browser WebSocket says no more than this, for any reason
    const socket = typeof WebSocket !== 'undefined' && err.target instanceof WebSocket ? ` from the WebSocket to ${err.target.url} (nothing listening, refused, or a TLS problem)` : ''
    return `${err.type} event${socket}`
  }
  return String((err as any)?.message ?? err)
}

/** `err` with `cause` attached (for error classes whose constructor takes only a message). */
export function withCause<E extends Error> (err: E, cause: unknown): E {
  if (cause !== undefined) {
    Object.defineProperty(err, 'cause', { value: cause, configurable: true, writable: true })
  }
  return err
}
