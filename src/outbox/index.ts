/**
 * @packageDocumentation
 *
 * `libp2p-messenger/outbox`: what you need to store the durable outbox
 * somewhere of your own (a database, a file). `openOutbox()` takes any
 * `OutboxStore`; `write` must be atomic, and a synchronous `ledger` (as
 * `localStorageLedger()`) is what lets a restart know exactly what the last
 * moments before it lost.
 *
 * @example
 *
 * ```ts
 * import { openOutbox } from 'libp2p-messenger'
 * import { memoryOutboxStore } from 'libp2p-messenger/outbox'
 *
 * const outbox = await openOutbox(memoryOutboxStore()) // survives a messenger, not a process
 * ```
 */
export { memoryOutboxStore, memoryLedger } from '../durable/outbox.js'
export type { OutboxStore, OutboxLedger, LedgerEntry, OutboxRecord, OutboxLane, OutboxBatch, OutboxRemoval } from '../durable/outbox.js'
export { localStorageLedger } from '../durable/outbox-idb.js'
