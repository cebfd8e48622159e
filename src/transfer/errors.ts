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
