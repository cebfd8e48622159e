/**
 * How the messenger and a durable outbox meet: the hooks the messenger calls
 * (`LaneStore`), what the outbox reads of a lane (`OutboxLaneView`), and the
 * public face of an outbox (`Outbox`). The outbox (durable/outbox.ts)
 * registers its hooks for the object `openOutbox()` returns; the core never
 * imports it.
 */
import type { StorageError } from '../errors.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { TypedEventEmitter } from 'main-event'

export interface OutboxEvents {
  /** Storage failed; the outbox keeps the changes in memory and retries with backoff. */
  error: CustomEvent<StorageError>
}

/**
 * The durable outbox. Pass it to `createMessenger({ outbox })`; it reports
 * storage failures as `error` events (the messenger forwards them).
 */
export interface Outbox {
  /** Resolves once every change made before this call is committed. */
  flush(options?: AbortOptions): Promise<void>
  /** Flush what is pending (bounded by `options.signal`) and close the store. */
  close(options?: AbortOptions): Promise<void>
  /** Peers with messages restored from a previous session on `protocol`. */
  pendingRestored(protocol: string): string[]
  addEventListener: TypedEventEmitter<OutboxEvents>['addEventListener']
  removeEventListener: TypedEventEmitter<OutboxEvents>['removeEventListener']
}

/** What the outbox needs of a lane (the outbound lane implements it). */
export interface OutboxLaneView {
  readonly peer: PeerId
  readonly epoch: Uint8Array
  readonly queue: { readonly length: number, seqAt: (i: number) => number }
  readonly nextSeq: number
  readonly unwritten: number
  /** confirmed mode: the highest sequence number ever written to a stream */
  readonly highestWritten: number
  readonly connection?: unknown
  payloadAt(i: number): Uint8Array
}

/** A lane as a previous session left it. */
export interface RestoredLane {
  epoch?: Uint8Array
  nextSeq: number
  records: Array<{ seq: number, payload: Uint8Array }>
  /**
   * numbers handed out before the restart whose messages are lost: reported
   * as `'unsaved'` drops; `unconfirmed` when they had been written to a stream
   * (confirmed mode) and so may have arrived
   */
  lost: Array<[number, number, boolean]>
  /**
   * Confirmed mode: the highest number ever written to a stream, in any
   * earlier session (its message may have arrived). A restored lane starts
   * from it, so a later drop of such a message is still `unconfirmed`, and the
   * ledger it saves keeps it across any number of restarts.
   */
  written?: number
}

/** The messenger's hooks into an outbox opened by `openOutbox`. */
export interface LaneStore {
  restore(protocol: string, peer: PeerId): RestoredLane | undefined
  pendingRestored(protocol: string): string[]
  changed(lane: OutboxLaneView, protocol: string): void
  written(lane: OutboxLaneView): void
  detach(lane: OutboxLaneView): void
}

const stores = new WeakMap<object, LaneStore>()

/** The outbox behind `outbox` registers its hooks here. */
export function registerLaneStore (outbox: object, store: LaneStore): void {
  stores.set(outbox, store)
}

/** The hooks of an outbox from `openOutbox()`. */
export function laneStoreOf (outbox: object): LaneStore {
  const store = stores.get(outbox)
  if (store == null) {
    throw new TypeError('MessengerInit.outbox must come from openOutbox()')
  }
  return store
}
