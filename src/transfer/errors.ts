/**
 * Errors of file transfers, one class per failure, each with a stable `name`.
 */

/** The receiving application refused the offer (or had no `offer` listener). */
export class TransferRejectedError extends Error {
  static override name = 'TransferRejectedError'
  override name = 'TransferRejectedError'
  constructor (readonly reason: string) {
    super(`The transfer was rejected: ${reason}`)
  }
}

/**
 * The other side cancelled the transfer (its AbortSignal aborted, it called
 * `cancel()`, or it stopped). A transfer cancelled locally rejects with the
 * signal's reason instead.
 */
export class TransferCancelledError extends Error {
  static override name = 'TransferCancelledError'
  override name = 'TransferCancelledError'
  constructor (readonly reason: string) {
    super(`The transfer was cancelled by the remote peer: ${reason}`)
  }
}

/**
 * The bytes received do not match what the sender declared: their digest
 * (see `TransferOffer.digest`), their size, or the chunk layout. Reported on
 * both sides; the receiver's partial data is deleted.
 */
export class TransferIntegrityError extends Error {
  static override name = 'TransferIntegrityError'
  override name = 'TransferIntegrityError'
}

/** The peer broke the transfer protocol (a chunk of the wrong size, an index out of range, …). */
export class TransferProtocolError extends Error {
  static override name = 'TransferProtocolError'
  override name = 'TransferProtocolError'
}

/** Bad arguments to `send()` or `createTransfers()`. */
export class InvalidTransferError extends TypeError {
  static override name = 'InvalidTransferError'
  override name = 'InvalidTransferError'
}

/**
 * The peer is reached only over a limited connection (a relay's circuit with
 * a data limit) that cannot carry the whole transfer: thrown by `send()`
 * before anything is sent. Wait for a direct connection (the messenger's
 * `connection` event), or use a relay without data limits.
 */
export class TransferTooLargeError extends Error {
  static override name = 'TransferTooLargeError'
  override name = 'TransferTooLargeError'
  constructor (readonly size: number, readonly limit: bigint) {
    super(`A transfer of ${size} bytes cannot fit the relayed connection to this peer, which may carry ${limit} more bytes: wait for a direct connection (the messenger's 'connection' event) or use a relay without a data limit`)
  }
}
