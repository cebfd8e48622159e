/**
 * The durable outbox: what is queued to a peer is also in storage, so it
 * survives a restart (a page reload) and is sent, in its original order, once
 * the peer is reachable.
 *
 * One invariant: for every lane (peer × channel), what is stored is what is
 * still in the lane's queue — unsent messages in the default mode,
 * unacknowledged ones in confirmed mode. The outbox keeps, per lane, the
 * range it stored; a write puts what is new in the queue and deletes what left
 * it, and only a successful write moves the range. A failed write changes
 * nothing and is retried. Writes are batched shortly after `send()`, so
 * messages that leave the queue before that are never stored at all.
 *
 * Between `send()` and that write a message is in memory only. Two things
 * close that window, through the store's synchronous `ledger` (localStorage
 * in browsers):
 * - every lane's sequence position (the last number handed out and the last
 *   one released) is recorded at the end of the task that changed it, so a
 *   number is never handed out twice and a message already sent is never
 *   sent again after a restart;
 * - when the page goes away (`pagehide`, `freeze`), the messages not yet
 *   stored are written to the ledger synchronously, within a size bound.
 * What a crash (no `pagehide`) or that bound still loses is known on the next
 * start, exactly, and reported with a `drop` event, reason `'unsaved'`.
 *
 * ```ts
 * const outbox = await openOutbox(indexedDBOutboxStore({ name: `libp2p-messenger/outbox/${node.peerId}` }))
 * const messenger = createMessenger(node, { protocol: '/chat/1.0.0', codec: json(), outbox })
 * messenger.send(peer, msg)
 * await messenger.flush() // everything sent so far is stored
 * ```
 */
import { TypedEventEmitter } from 'main-event'
import { Backoff } from '../util/backoff.js'
import { MessengerStoppedError, StorageError, errorMessage } from '../errors.js'
import { timedSignal } from '../util/signals.js'
import { registerLaneStore } from '../core/store.js'
import type { LaneStore, Outbox, OutboxEvents, OutboxLaneView, RestoredLane } from '../core/store.js'
import { defaultLogger } from '@libp2p/logger'
import type { AbortOptions, ComponentLogger, Logger, PeerId } from '@libp2p/interface'

export type { Outbox, OutboxEvents }

/** One stored message. */
export interface OutboxRecord {
  protocol: string
  peer: string
  seq: number
  payload: Uint8Array
}

/** A lane's sequence space, as stored. */
export interface OutboxLane {
  protocol: string
  peer: string
  epoch: Uint8Array
  nextSeq: number
  updatedAt: number
}

/** Removes records [first, last] of one lane. */
export interface OutboxRemoval {
  protocol: string
  peer: string
  first: number
  last: number
}

/** One transaction's worth of changes. */
export interface OutboxBatch {
  put: OutboxRecord[]
  remove: OutboxRemoval[]
  lanes: OutboxLane[]
}

/**
 * A lane's position, kept synchronously: `issued` is the last sequence number
 * handed out, `released` the last one that left the queue (with everything
 * before it). `spill` holds messages written at unload that storage did not
 * have yet; `skipped` ranges were lost and reported already.
 */
export interface LedgerEntry {
  epoch: string
  issued: number
  released: number
  /** confirmed mode: the last number ever written to a stream (its message may have arrived) */
  written?: number
  updatedAt: number
  spill?: Array<{ seq: number, payload: Uint8Array }>
  skipped?: Array<[number, number]>
}

/** Small, synchronous storage that survives a reload (localStorage). Keyed by `<protocol>\n<peer>`. */
export interface OutboxLedger {
  load(): Map<string, LedgerEntry>
  save(key: string, entry: LedgerEntry | undefined): void
}

/** Where the outbox keeps its records. `write` must be atomic. */
export interface OutboxStore {
  load(options?: AbortOptions): Promise<{ records: OutboxRecord[], lanes: OutboxLane[] }>
  write(batch: OutboxBatch, options?: AbortOptions): Promise<void>
  close(): void | Promise<void>
  /**
   * Synchronous storage for sequence positions and unload-time spills. Without
   * one, numbers handed out in the last moments before a crash or reload can
   * be handed out again, and those messages are lost unreported.
   */
  readonly ledger?: OutboxLedger
}

export interface OutboxInit {
  /**
   * Lane state of peers with nothing pending is forgotten after this long.
   *
   * @default 30 days
   */
  laneTtl?: number
  /**
   * How long new changes wait before they are written: messages sent and
   * released within it are never written at all, which keeps IndexedDB out of
   * the way of an online peer. `flush()` writes at once.
   *
   * @default 25 ms
   */
  writeDelay?: number
  /**
   * Bytes of not-yet-stored messages written to the ledger when the page goes
   * away; what does not fit is reported `'unsaved'` on the next start.
   *
   * @default 1 MiB
   */
  maxSpillBytes?: number
  /** Where it logs (`libp2p-messenger:outbox`): pass the node's, `node.logger`. @default `defaultLogger()` from @libp2p/logger */
  logger?: ComponentLogger
  /** @default 100 ms */
  minRetry?: number
  /** @default 10 s */
  maxRetry?: number
}

/**
 * Lane state of peers with nothing pending is kept this long.
 *
 * @default 30 days
 */
export const DEFAULT_OUTBOX_LANE_TTL = 30 * 24 * 3600_000

/**
 * How long changes wait before they are written (see `OutboxInit.writeDelay`).
 *
 * @default 25 ms
 */
export const DEFAULT_OUTBOX_WRITE_DELAY = 25

/**
 * While a lane is writing to an open stream, its new records may wait up to
 * this long, so that a burst to an online peer is sent (and released) before
 * it is ever stored. `flush()` writes at once.
 *
 * @default 250 ms
 */
export const MAX_OUTBOX_WRITE_DELAY = 250

/**
 * Unload-time spill bound (see `OutboxInit.maxSpillBytes`).
 *
 * @default 1 MiB
 */
export const DEFAULT_OUTBOX_SPILL_BYTES = 1024 * 1024

/** How long `close()` waits for a last flush when no signal bounds it. */
const CLOSE_FLUSH_TIMEOUT = 5_000

/**
 * Sequence numbers skipped when a lane's position is unknown (storage without
 * a ledger, or a ledger that was cleared): far past anything that can have
 * been handed out unrecorded.
 */
const UNKNOWN_POSITION_JUMP = 2 ** 24

/** Per lane: what is stored, and the lane itself once this session has one. */
interface LaneState {
  protocol: string
  peer: string
  key: string
  lane?: OutboxLaneView
  epoch?: Uint8Array
  /** stored records: seqs in [storedFirst, storedLast] (none when storedLast < storedFirst) */
  storedFirst: number
  storedLast: number
  /** the lane's nextSeq as stored */
  storedNext: number
  /** ranges lost before a restart (reported), still inside the stored span */
  skipped: Array<[number, number]>
  /** the ledger entry as last saved */
  ledger?: LedgerEntry
  restored?: RestoredLane
  updatedAt: number
}

const laneKey = (protocol: string, peer: string): string => `${protocol}\n${peer}`

class OutboxImpl extends TypedEventEmitter<OutboxEvents> implements Outbox, LaneStore {
  private readonly store: OutboxStore
  private readonly lanes = new Map<string, LaneState>()
  private readonly byLane = new Map<OutboxLaneView, LaneState>()
  private dirty = new Set<LaneState>()
  private readonly ledgerDirty = new Set<LaneState>()
  private ledgerScheduled = false
  private readonly writeDelay: number
  private readonly maxSpillBytes: number
  private oldestChange = 0
  private timer?: ReturnType<typeof setTimeout>
  private writing?: Promise<void>
  private readonly waiters: Array<{ resolve: () => void, reject: (err: Error) => void }> = []
  private readonly backoff: Backoff
  private closed = false
  private readonly onPageHide = (): void => { this.spill() }
  private readonly log: Logger

  constructor (store: OutboxStore, init: OutboxInit) {
    super()
    this.store = store
    this.log = (init.logger ?? defaultLogger()).forComponent('libp2p-messenger:outbox')
    this.backoff = new Backoff(init.minRetry ?? 100, init.maxRetry ?? 10_000)
    this.writeDelay = init.writeDelay ?? DEFAULT_OUTBOX_WRITE_DELAY
    this.maxSpillBytes = init.maxSpillBytes ?? DEFAULT_OUTBOX_SPILL_BYTES
  }

  async load (ttl: number, options?: AbortOptions): Promise<void> {
    const { records, lanes } = await this.store.load(options)
    const ledger = this.store.ledger?.load() ?? new Map<string, LedgerEntry>()
    const now = Date.now()
    const byKey = new Map<string, OutboxRecord[]>()
    for (const r of records) {
      const k = laneKey(r.protocol, r.peer)
      const list = byKey.get(k) ?? []
      list.push(r)
      byKey.set(k, list)
    }
    const keys = new Set<string>([...lanes.map(l => laneKey(l.protocol, l.peer)), ...byKey.keys(), ...ledger.keys()])
    for (const k of keys) {
      const [protocol, peer] = k.split('\n')
      const stored = lanes.find(l => l.protocol === protocol && l.peer === peer)
      const entry = ledger.get(k)
      const recs = (byKey.get(k) ?? []).sort((a, b) => a.seq - b.seq)
      const epoch = entry != null ? fromHex(entry.epoch) : stored?.epoch
      const storedNext = stored?.nextSeq ?? (recs.length > 0 ? recs[recs.length - 1].seq + 1 : 1)
      // released: everything up to it left the queue (sent or acknowledged); never send it again
      const released = entry?.released ?? (recs.length > 0 ? recs[0].seq - 1 : storedNext - 1)
      // storage without its ledger entry (cleared, or a write that failed): the position may be
      // behind what was handed out, so jump far past it rather than hand a number out twice
      const jumped = entry == null && this.store.ledger != null
      const issued = entry != null ? Math.max(entry.issued, storedNext - 1) : storedNext - 1 + (jumped ? UNKNOWN_POSITION_JUMP : 0)
      const kept = new Map<number, Uint8Array>()
      for (const r of recs) if (r.seq > released) kept.set(r.seq, r.payload)
      for (const s of entry?.spill ?? []) if (s.seq > released && !kept.has(s.seq)) kept.set(s.seq, s.payload)
      const restoredRecords = [...kept.entries()].sort((a, b) => a[0] - b[0]).map(([seq, payload]) => ({ seq, payload }))
      const skipped = (entry?.skipped ?? []).filter(([, last]) => last > released)
      if (jumped) {
        skipped.push([Math.max(storedNext, restoredRecords[restoredRecords.length - 1]?.seq + 1 || 0), issued])
      }
      const gone = entry != null ? missing(released, issued, restoredRecords, skipped) : []
      const written = entry?.written ?? 0
      const lost: Array<[number, number, boolean]> = []
      for (const [a, b] of gone) {
        if (a <= written) lost.push([a, Math.min(b, written), true])
        if (b > written) lost.push([Math.max(a, written + 1), b, false])
      }
      const updatedAt = Math.max(stored?.updatedAt ?? 0, entry?.updatedAt ?? 0)
      if (restoredRecords.length === 0 && now - updatedAt > ttl) {
        // an idle lane nobody has used in a long time: forget it (a new one starts a new sequence space)
        this.store.ledger?.save(k, undefined)
        continue
      }
      const state: LaneState = {
        protocol,
        peer,
        key: k,
        epoch,
        storedFirst: recs[0]?.seq ?? storedNext,
        storedLast: recs.length > 0 ? recs[recs.length - 1].seq : storedNext - 1,
        storedNext,
        skipped: [...skipped, ...gone],
        updatedAt: updatedAt > 0 ? updatedAt : now,
        ledger: entry
      }
      state.restored = { epoch, nextSeq: issued + 1, records: restoredRecords, lost, written: entry?.written }
      this.lanes.set(k, state)
    }
    globalThis.addEventListener?.('pagehide', this.onPageHide)
    globalThis.addEventListener?.('freeze', this.onPageHide)
    this.log('opened: %d lanes, %d messages to resume', this.lanes.size, [...this.lanes.values()].reduce((n, l) => n + (l.restored?.records.length ?? 0), 0))
  }

  pendingRestored (protocol: string): string[] {
    const peers: string[] = []
    for (const s of this.lanes.values()) {
      if (s.protocol === protocol && s.restored != null && (s.restored.records.length > 0 || s.restored.lost.length > 0)) {
        peers.push(s.peer)
      }
    }
    return peers
  }

  get unflushed (): number {
    return this.dirty.size
  }

  async flush (options?: AbortOptions): Promise<void> {
    if (this.dirty.size === 0 && this.writing == null) {
      return
    }
    options?.signal?.throwIfAborted()
    const done = new Promise<void>((resolve, reject) => { this.waiters.push({ resolve, reject }) })
    this.schedule(0, true)
    if (options?.signal == null) {
      return done
    }
    const signal = options.signal
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      done.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
    })
  }

  async close (options?: AbortOptions): Promise<void> {
    if (this.closed) {
      return
    }
    // storage that keeps failing must not keep close() waiting: bounded by the signal, or 5 s
    const timed = options?.signal == null ? timedSignal(CLOSE_FLUSH_TIMEOUT) : undefined
    try {
      await this.flush({ signal: options?.signal ?? timed?.signal })
    } catch (err) {
      this.log.error('closing with changes not stored - %e', err)
    } finally {
      timed?.clear()
    }
    this.spill()
    this.closed = true
    clearTimeout(this.timer)
    globalThis.removeEventListener?.('pagehide', this.onPageHide)
    globalThis.removeEventListener?.('freeze', this.onPageHide)
    for (const w of this.waiters.splice(0)) {
      w.reject(new MessengerStoppedError('The outbox is closed'))
    }
    await this.store.close()
  }

  // --- the messenger's side (LaneStore) ---

  restore (protocol: string, peer: PeerId): RestoredLane | undefined {
    const state = this.lanes.get(laneKey(protocol, peer.toString()))
    if (state == null) {
      return undefined
    }
    const restored = state.restored
    state.restored = undefined
    return restored ?? { epoch: state.epoch, nextSeq: Math.max(state.storedNext, (state.ledger?.issued ?? 0) + 1, state.lane?.nextSeq ?? 0), records: [], lost: [] }
  }

  /** The lane's queue changed (a message queued, sent, acknowledged or dropped). */
  changed (lane: OutboxLaneView, protocol: string): void {
    if (this.closed) {
      return
    }
    let state = this.byLane.get(lane)
    if (state == null) {
      const peer = lane.peer.toString()
      const k = laneKey(protocol, peer)
      state = this.lanes.get(k) ?? { protocol, peer, key: k, storedFirst: lane.nextSeq, storedLast: lane.nextSeq - 1, storedNext: 0, skipped: [], updatedAt: Date.now() }
      state.lane = lane
      state.epoch = lane.epoch
      this.lanes.set(k, state)
      this.byLane.set(lane, state)
    }
    if (this.dirty.size === 0) {
      this.oldestChange = Date.now()
    }
    this.dirty.add(state)
    this.ledgerDirty.add(state)
    if (!this.ledgerScheduled && this.store.ledger != null) {
      this.ledgerScheduled = true
      queueMicrotask(() => { this.saveLedger() })
    }
    this.schedule()
  }

  /** Confirmed mode: the lane wrote messages (they may arrive from now on): only the ledger changes. */
  written (lane: OutboxLaneView): void {
    const state = this.byLane.get(lane)
    if (state == null || this.closed || this.store.ledger == null) {
      return
    }
    this.ledgerDirty.add(state)
    if (!this.ledgerScheduled) {
      this.ledgerScheduled = true
      queueMicrotask(() => { this.saveLedger() })
    }
  }

  /** The lane is gone (stopped or idle): forget its view, keep its state. */
  detach (lane: OutboxLaneView): void {
    const state = this.byLane.get(lane)
    if (state != null && !this.dirty.has(state)) {
      state.lane = undefined
      this.byLane.delete(lane)
    }
  }

  // --- the ledger ---

  private entry (state: LaneState, spill?: LedgerEntry['spill']): LedgerEntry | undefined {
    const lane = state.lane
    if (lane == null || state.epoch == null) {
      return state.ledger
    }
    const released = lane.queue.length > 0 ? lane.queue.seqAt(0) - 1 : lane.nextSeq - 1
    const entry: LedgerEntry = { epoch: toHex(state.epoch), issued: lane.nextSeq - 1, released, updatedAt: Date.now() }
    if (lane.highestWritten > released) {
      entry.written = lane.highestWritten
    }
    const skipped = state.skipped.filter(([, last]) => last > released)
    if (skipped.length > 0) {
      entry.skipped = skipped
    }
    if (spill != null && spill.length > 0) {
      entry.spill = spill
    }
    return entry
  }

  private saveLedger (): void {
    this.ledgerScheduled = false
    const ledger = this.store.ledger
    if (ledger == null || this.closed) {
      this.ledgerDirty.clear()
      return
    }
    for (const state of this.ledgerDirty) {
      // a spill stays until storage has its messages
      const entry = this.entry(state, state.ledger?.spill?.filter(m => !isStored(state, m.seq)))
      if (entry != null && !sameEntry(entry, state.ledger)) {
        state.ledger = entry
        this.tryLedger(() => { ledger.save(state.key, entry) })
      }
    }
    this.ledgerDirty.clear()
  }

  /**
   * The page is going away: write what storage does not have yet to the
   * ledger, synchronously, within the spill bound.
   */
  spill (): void {
    const ledger = this.store.ledger
    if (ledger == null || this.closed) {
      return
    }
    let budget = this.maxSpillBytes
    for (const state of this.lanes.values()) {
      const lane = state.lane
      if (lane == null) {
        continue
      }
      const spill: NonNullable<LedgerEntry['spill']> = []
      for (let i = 0; i < lane.queue.length; i++) {
        const seq = lane.queue.seqAt(i)
        if (isStored(state, seq)) {
          continue
        }
        const payload = lane.payloadAt(i)
        if (payload.byteLength > budget) {
          break // the rest is reported as unsaved on the next start
        }
        budget -= payload.byteLength
        spill.push({ seq, payload: payload.slice() })
      }
      const entry = this.entry(state, spill)
      if (entry != null) {
        state.ledger = entry
        this.tryLedger(() => { ledger.save(state.key, entry) })
      }
    }
  }

  private tryLedger (fn: () => void): void {
    try {
      fn()
    } catch (err: any) {
      this.log.error('ledger write failed - %e', err)
      this.safeDispatchEvent('error', { detail: new StorageError(`Outbox ledger write failed: ${errorMessage(err)}`, { cause: err }) })
    }
  }

  // --- writing ---

  /** Is a lane with changes waiting writing to an open stream? */
  private sending (): boolean {
    for (const s of this.dirty) {
      if (s.lane?.connection != null && s.lane.unwritten > 0) {
        return true
      }
    }
    return false
  }

  private schedule (delay = this.writeDelay, now = false): void {
    if (now && this.timer != null) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.timer != null || this.writing != null || this.closed) {
      return
    }
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.write()
    }, delay)
  }

  /** For each changed lane: put what the queue has and storage lacks, delete what left the queue. */
  private batch (): { batch: OutboxBatch, after: Array<[LaneState, number, number, number]> } {
    const batch: OutboxBatch = { put: [], remove: [], lanes: [] }
    const after: Array<[LaneState, number, number, number]> = []
    for (const state of this.dirty) {
      const lane = state.lane
      if (lane == null || state.epoch == null) {
        continue
      }
      const length = lane.queue.length
      const first = length > 0 ? lane.queue.seqAt(0) : lane.nextSeq
      const last = length > 0 ? lane.queue.seqAt(length - 1) : lane.nextSeq - 1
      if (state.storedLast >= state.storedFirst && state.storedFirst < first) {
        batch.remove.push({ protocol: state.protocol, peer: state.peer, first: state.storedFirst, last: Math.min(state.storedLast, first - 1) })
      }
      for (let i = 0; i < length; i++) {
        const seq = lane.queue.seqAt(i)
        if (!isStored(state, seq)) {
          batch.put.push({ protocol: state.protocol, peer: state.peer, seq, payload: lane.payloadAt(i).slice() })
        }
      }
      if (state.storedNext !== lane.nextSeq) {
        batch.lanes.push({ protocol: state.protocol, peer: state.peer, epoch: state.epoch, nextSeq: lane.nextSeq, updatedAt: Date.now() })
      }
      after.push([state, first, last, lane.nextSeq])
    }
    return { batch, after }
  }

  private async write (): Promise<void> {
    if (this.waiters.length === 0 && Date.now() - this.oldestChange < MAX_OUTBOX_WRITE_DELAY && this.sending()) {
      // a burst is going out to an online peer: most of it leaves the queue before it would be stored
      this.schedule()
      return
    }
    if (this.dirty.size === 0) {
      for (const w of this.waiters.splice(0)) {
        w.resolve()
      }
      return
    }
    const { batch, after } = this.batch()
    const waiters = this.waiters.splice(0)
    const written = this.dirty
    this.dirty = new Set()
    const writing = batch.put.length + batch.remove.length + batch.lanes.length > 0 ? this.store.write(batch) : Promise.resolve()
    this.writing = writing
    try {
      await writing
    } catch (err: any) {
      // nothing moved: the same lanes are written again, from their queues as they are then
      for (const s of written) this.dirty.add(s)
      this.waiters.unshift(...waiters)
      const error = err instanceof StorageError ? err : new StorageError(`Outbox write failed: ${errorMessage(err)}`, { cause: err })
      this.log.error('write failed, retrying - %e', error)
      this.safeDispatchEvent('error', { detail: error })
      this.writing = undefined
      if (!this.closed) {
        this.schedule(this.backoff.next())
      }
      return
    }
    this.backoff.reset()
    for (const [state, first, last, next] of after) {
      state.storedFirst = first
      state.storedLast = last
      state.storedNext = next
      state.updatedAt = Date.now()
      if (state.lane != null && !this.dirty.has(state) && state.lane.queue.length === 0) {
        this.detach(state.lane)
      }
    }
    for (const w of waiters) {
      w.resolve()
    }
    this.writing = undefined
    if (this.dirty.size > 0 || this.waiters.length > 0) {
      this.schedule()
    }
  }
}

/** Open an outbox on `store`, loading whatever a previous session left. */
export async function openOutbox (store: OutboxStore, init: OutboxInit = {}, options?: AbortOptions): Promise<Outbox> {
  const outbox = new OutboxImpl(store, init)
  await outbox.load(init.laneTtl ?? DEFAULT_OUTBOX_LANE_TTL, options)
  registerLaneStore(outbox, outbox)
  return outbox
}

/** A ledger in a `Map`: for Node and tests (it survives a messenger, not a process). */
export function memoryLedger (): OutboxLedger & { entries: Map<string, LedgerEntry> } {
  const entries = new Map<string, LedgerEntry>()
  return {
    entries,
    load: () => new Map(entries),
    save: (key, entry) => { if (entry == null) entries.delete(key); else entries.set(key, entry) }
  }
}

/** Records in memory: for Node and tests (it survives a messenger, not a process). */
export function memoryOutboxStore (): OutboxStore & { records: Map<string, OutboxRecord>, lanes: Map<string, OutboxLane>, ledger: ReturnType<typeof memoryLedger> } {
  const records = new Map<string, OutboxRecord>()
  const lanes = new Map<string, OutboxLane>()
  const recordKey = (p: string, peer: string, seq: number): string => `${p}\n${peer}\n${String(seq).padStart(16, '0')}`
  return {
    records,
    lanes,
    ledger: memoryLedger(),
    async load () {
      const sorted = [...records.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([, r]) => r)
      return { records: sorted, lanes: [...lanes.values()] }
    },
    async write (batch) {
      for (const r of batch.remove) {
        for (let seq = r.first; seq <= r.last; seq++) {
          records.delete(recordKey(r.protocol, r.peer, seq))
        }
      }
      for (const r of batch.put) {
        records.set(recordKey(r.protocol, r.peer, r.seq), r)
      }
      for (const l of batch.lanes) {
        lanes.set(laneKey(l.protocol, l.peer), l)
      }
    },
    close () {}
  }
}

/** Whether storage holds the record of `seq` (its stored range covers it). */
function isStored (state: LaneState, seq: number): boolean {
  return seq >= state.storedFirst && seq <= state.storedLast
}

/** Numbers in (released, issued] that are neither restored nor already reported, as ranges. */
function missing (released: number, issued: number, records: Array<{ seq: number }>, skipped: Array<[number, number]>): Array<[number, number]> {
  const covered: Array<[number, number]> = [...records.map((r): [number, number] => [r.seq, r.seq]), ...skipped].sort((a, b) => a[0] - b[0])
  const out: Array<[number, number]> = []
  let next = released + 1
  for (const [a, b] of covered) {
    if (a > next && next <= issued) {
      out.push([next, Math.min(a - 1, issued)])
    }
    next = Math.max(next, b + 1)
  }
  if (next <= issued) {
    out.push([next, issued])
  }
  return out
}

function sameEntry (a: LedgerEntry, b?: LedgerEntry): boolean {
  return b != null && a.epoch === b.epoch && a.issued === b.issued && a.released === b.released && a.written === b.written && a.spill == null && b.spill == null &&
    JSON.stringify(a.skipped ?? []) === JSON.stringify(b.skipped ?? [])
}

export function toHex (bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) {
    out += b.toString(16).padStart(2, '0')
  }
  return out
}

export function fromHex (hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  }
  return out
}
