/**
 * @packageDocumentation
 *
 * `libp2p-messenger/transfer`: files and large payloads between peers. Offers
 * the receiver accepts or rejects before any chunk flows, progress on both
 * sides, cancellation from either side, a digest checked at the end, a fixed
 * window of chunks in flight (neither side holds the whole file), and
 * resumption from the last stored chunk after a reconnect, or after a reload
 * of the receiver with `indexedDBTransferStore()`.
 *
 * @example
 *
 * ```ts
 * import { createTransfers, indexedDBTransferStore } from 'libp2p-messenger/transfer'
 *
 * const transfers = createTransfers(messenger, { store: indexedDBTransferStore({ name: `transfers/${node.peerId}` }) })
 * transfers.addEventListener('offer', (e) => {
 *   const incoming = e.detail.accept()
 *   incoming.done.then((blob) => { link.href = URL.createObjectURL(blob) })
 * })
 * const outgoing = transfers.send(peerId, file, { name: file.name })
 * outgoing.addEventListener('progress', (e) => { bar.value = e.detail.bytes / (e.detail.total ?? 1) })
 * await outgoing.done
 * ```
 */
import '../util/polyfill.js'

export {
  createTransfers, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, DEFAULT_WINDOW, MAX_WINDOW, DEFAULT_RETRY_INTERVAL,
  DEFAULT_TRANSFER_PRIORITY, DEFAULT_MAX_INCOMING, DEFAULT_TRANSFER_PROTOCOL
} from './transfers.js'
export type {
  Transfers, TransfersInit, TransfersEvents, Transfer, TransferEvents, TransferProgress, TransferStats,
  OutgoingTransfer, IncomingTransfer, SendOptions, TransferOffer
} from './transfers.js'
export type { TransferSource } from './source.js'
export { memoryTransferStore } from './store.js'
export type { TransferStore, StoredTransfer } from './store.js'
export { indexedDBTransferStore } from './store-idb.js'
export type { IndexedDBTransferInit } from './store-idb.js'
export {
  TransferRejectedError, TransferCancelledError, TransferIntegrityError, TransferProtocolError, InvalidTransferError, TransferTooLargeError
} from './errors.js'
export { StorageError, MessengerStoppedError } from '../errors.js'
