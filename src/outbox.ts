/**
 * The durable outbox: every queued message is also written to storage, in
 * batched transactions shortly after `send()`, and deleted only once it was
 * sent (default mode) or acknowledged (confirmed mode) — never before. After a
 * restart (a page reload) the messenger finds the pending messages here and
 * sends them, in their original order, once their peers are reachable.
 *
 * Storage is pluggable (`OutboxStore`): `memoryOutboxStore()` here,
 * `indexedDBOutboxStore()` for browsers (outbox-idb.ts).
 *
 * ```ts
 * const outbox = await openOutbox(indexedDBOutboxStore({ name: `outbox-${node.peerId}` }))
 * const messenger = createMessenger(node, { protocol: '/chat/1.0.0', codec: json(), outbox })
 * messenger.send(peer, msg)
 * await outbox.flush() // everything sent so far is stored
 * ```
 */
import { TypedEventEmitter } from 'main-event'
import { Backoff } from './backoff.js'
import { MessengerStoppedError, StorageError } from './errors.js'
import { varintLength } from './framing.js'
import type { LaneStore } from './channel.js'
import type { OutboundLane } from './outbound-lane.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'

/** One stored message. */
export interface OutboxRecord {
  protocol: string
  peer: string
  seq: number
  payload: Uint8Array
}

/** What a lane needs to continue after a restart: its sequence space. */
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

/** Where the outbox keeps its records. `write` must be atomic. */
export interface OutboxStore {
  load(options?: AbortOptions): Promise<{ records: OutboxRecord[], lanes: OutboxLane[] }>
  write(batch: OutboxBatch, options?: AbortOptions): Promise<void>
  close(): void | Promise<void>
}

export interface OutboxEvents {
  /** Storage failed; the outbox keeps the changes in memory and retries with backoff. */
  error: CustomEvent<StorageError>
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

interface Restored {
  firstSeq: number
  epoch?: Uint8Array
  payloads: Uint8Array[]
}

const key = (protocol: string, peer: string): string => `${protocol}\n${peer}`

export class Outbox extends TypedEventEmitter<OutboxEvents> implements LaneStore {
  private readonly store: OutboxStore
  private readonly restored = new Map<string, Restored>()
  private readonly lanes = new Map<string, OutboxLane>()
  private puts: OutboxRecord[] = []
  private removes: OutboxRemoval[] = []
  /** per lane: the messages queued since the last write, still in the lane's queue unless released */
  private ranges = new Map<OutboundLane, PendingRange>()
  /** for each removal: how many puts were queued when it was made (it covers only those) */
  private removeMarks: number[] = []
  /** lanes whose state changed since the last write: their snapshot is taken when writing */
  private dirtyLanes = new Map<string, DirtyLane>()
  /** every lane seen, to mark it dirty again when a write fails */
  private readonly seenLanes = new Map<string, DirtyLane>()
  private readonly writeDelay: number
  /** when the oldest record not yet written was queued */
  private oldestPut = 0
  private timer?: ReturnType<typeof setTimeout>
  private writing?: Promise<void>
  private readonly waiters: Array<{ resolve: () => void, reject: (err: Error) => void }> = []
  private readonly backoff: Backoff
  private closed = false

  private constructor (store: OutboxStore, init: OutboxInit) {
    super()
    this.store = store
    this.backoff = new Backoff(init.minRetry ?? 100, init.maxRetry ?? 10_000)
    this.writeDelay = init.writeDelay ?? DEFAULT_OUTBOX_WRITE_DELAY
  }

  /** Open an outbox on `store`, loading whatever a previous session left. */
  static async open (store: OutboxStore, init: OutboxInit = {}, options?: AbortOptions): Promise<Outbox> {
    const outbox = new Outbox(store, init)
    const { records, lanes } = await store.load(options)
    const ttl = init.laneTtl ?? DEFAULT_OUTBOX_LANE_TTL
    const now = Date.now()
    for (const lane of lanes) {
      outbox.lanes.set(key(lane.protocol, lane.peer), lane)
    }
    // records arrive sorted by (protocol, peer, seq)
    for (const r of records) {
      const k = key(r.protocol, r.peer)
      let entry = outbox.restored.get(k)
      if (entry == null) {
        entry = { firstSeq: r.seq, epoch: outbox.lanes.get(k)?.epoch, payloads: [] }
        outbox.restored.set(k, entry)
      }
      if (r.seq !== entry.firstSeq + entry.payloads.length) {
        // not contiguous (should not happen): renumber this lane's records
        outbox.renumber.add(k)
      }
      entry.payloads.push(r.payload)
    }
    for (const k of outbox.renumber) {
      const entry = outbox.restored.get(k) as Restored
      const [protocol, peer] = k.split('\n')
      const last = records.filter(r => key(r.protocol, r.peer) === k).reduce((m, r) => Math.max(m, r.seq), 0)
      outbox.removes.push({ protocol, peer, first: entry.firstSeq, last })
      entry.payloads.forEach((payload, i) => outbox.puts.push({ protocol, peer, seq: entry.firstSeq + i, payload }))
    }
    // forget idle lanes nobody has written to in a long time
    for (const [k, lane] of outbox.lanes) {
      if (!outbox.restored.has(k) && now - lane.updatedAt > ttl) {
        outbox.lanes.delete(k)
      }
    }
    return outbox
  }

  private readonly renumber = new Set<string>()

  /** Messages restored from storage and not yet sent, per protocol and peer. */
  pendingRestored (protocol: string): string[] {
    const peers: string[] = []
    for (const k of this.restored.keys()) {
      const [p, peer] = k.split('\n')
      if (p === protocol) {
        peers.push(peer)
      }
    }
    return peers
  }

  /** Changes not yet committed to storage. */
  get unflushed (): number {
    return this.puts.length + this.ranges.size + this.removes.length + this.dirtyLanes.size
  }

  /** Resolves once every change made before this call is committed. */
  async flush (options?: AbortOptions): Promise<void> {
    if (this.unflushed === 0 && this.writing == null) {
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

  /** Flush what is pending (bounded by `options.signal`) and close the store. */
  async close (options?: AbortOptions): Promise<void> {
    if (this.closed) {
      return
    }
    try {
      await this.flush(options)
    } catch {}
    this.closed = true
    clearTimeout(this.timer)
    for (const w of this.waiters.splice(0)) {
      w.reject(new MessengerStoppedError('The outbox is closed'))
    }
    await this.store.close()
  }

  // --- LaneStore ---

  lane (protocol: string, peer: PeerId): { firstSeq: number, epoch?: Uint8Array, payloads?: Uint8Array[] } | undefined {
    const k = key(protocol, peer.toString())
    const restored = this.restored.get(k)
    if (restored != null) {
      this.restored.delete(k)
      return restored
    }
    const lane = this.lanes.get(k)
    return lane != null ? { firstSeq: lane.nextSeq, epoch: lane.epoch } : undefined
  }

  enqueued (lane: OutboundLane, protocol: string, seq: number, confirmed: boolean): void {
    if (this.closed) {
      return
    }
    // only the range is noted here; the records are made from the lane's queue when written,
    // and a message sent (released) before that is never stored
    const range = this.ranges.get(lane)
    if (range != null) {
      range.last = seq
      return
    }
    if (this.puts.length === 0 && this.ranges.size === 0) {
      this.oldestPut = Date.now()
    }
    const peer = lane.peer.toString()
    this.ranges.set(lane, { lane, protocol, peer, first: seq, last: seq, confirmed })
    this.touch(lane, protocol, peer)
    this.schedule()
  }

  released (lane: OutboundLane, protocol: string, first: number, last: number): void {
    if (this.closed) {
      return
    }
    const peer = lane.peer.toString()
    // whatever of the range was written before is removed; records not yet
    // written are left out of the next batch (see unreleased())
    const prev = this.removes[this.removes.length - 1]
    if (prev != null && prev.peer === peer && prev.protocol === protocol && prev.last + 1 >= first && prev.first <= first) {
      prev.last = Math.max(prev.last, last)
      this.removeMarks[this.removeMarks.length - 1] = this.puts.length
    } else {
      this.removes.push({ protocol, peer, first, last })
      this.removeMarks.push(this.puts.length)
    }
    this.touch(lane, protocol, peer)
    this.schedule()
  }

  private touch (lane: OutboundLane, protocol: string, peer: string): void {
    const k = key(protocol, peer)
    if (!this.dirtyLanes.has(k)) {
      const dirty = this.seenLanes.get(k) ?? { lane, protocol, peer }
      dirty.lane = lane
      this.seenLanes.set(k, dirty)
      this.dirtyLanes.set(k, dirty)
    }
  }

  /** Is a lane with records waiting to be stored writing to an open stream? */
  private sending (): boolean {
    for (const d of this.dirtyLanes.values()) {
      if (d.lane.connection != null && d.lane.unwritten > 0) {
        return true
      }
    }
    return false
  }

  /** The state of every lane that changed, as it will be stored. */
  private laneSnapshots (): OutboxLane[] {
    const out: OutboxLane[] = []
    for (const [k, d] of this.dirtyLanes) {
      const state = this.lanes.get(k)
      if (state != null && state.nextSeq === d.lane.nextSeq && state.epoch === d.lane.epoch) {
        continue
      }
      const snapshot = { protocol: d.protocol, peer: d.peer, epoch: d.lane.epoch, nextSeq: d.lane.nextSeq, updatedAt: Date.now() }
      this.lanes.set(k, snapshot)
      out.push(snapshot)
    }
    return out
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

  private async write (): Promise<void> {
    if (this.waiters.length === 0 && (this.puts.length > 0 || this.ranges.size > 0) && Date.now() - this.oldestPut < MAX_OUTBOX_WRITE_DELAY && this.sending()) {
      // a burst is going out to an online peer: most of it will be released before it would be stored
      this.schedule()
      return
    }
    if (this.unflushed === 0) {
      for (const w of this.waiters.splice(0)) {
        w.resolve()
      }
      return
    }
    const ranges = this.ranges
    const batch: OutboxBatch = {
      put: [...unreleased(this.puts, this.removes, this.removeMarks), ...records(ranges.values())],
      remove: this.removes,
      lanes: this.laneSnapshots()
    }
    const waiters = this.waiters.splice(0)
    this.puts = []
    this.ranges = new Map()
    this.removes = []
    this.removeMarks = []
    this.dirtyLanes = new Map()
    const writing = this.store.write(batch)
    this.writing = writing
    try {
      await writing
      this.backoff.reset()
      for (const w of waiters) {
        w.resolve()
      }
    } catch (err: any) {
      // keep the changes, in order, ahead of newer ones, and try again later;
      // records released while the write was under way are not put back
      // ranges are made into records again on the next try (without what was released meanwhile)
      for (const [lane, range] of ranges) {
        const newer = this.ranges.get(lane)
        this.ranges.set(lane, newer == null ? range : { ...range, last: newer.last })
      }
      const later = this.removes
      const stillPending = batch.put.filter(r => !fromRange.has(r)).filter(r => !later.some(x => x.peer === r.peer && x.protocol === r.protocol && r.seq >= x.first && r.seq <= x.last))
      this.puts = [...stillPending, ...this.puts]
      // the failed batch's removals come first and covered only its own records
      this.removeMarks = [...batch.remove.map(() => 0), ...this.removeMarks.map(m => m + stillPending.length)]
      this.removes = [...batch.remove, ...this.removes]
      for (const lane of batch.lanes) {
        const k = key(lane.protocol, lane.peer)
        const dirty = this.seenLanes.get(k)
        this.lanes.delete(k)
        if (dirty != null) {
          this.dirtyLanes.set(k, dirty)
        }
      }
      this.waiters.unshift(...waiters)
      const error = err instanceof StorageError ? err : new StorageError(`Outbox write failed: ${err?.message ?? err}`, { cause: err })
      this.safeDispatchEvent('error', { detail: error })
      this.writing = undefined
      if (!this.closed) {
        this.schedule(this.backoff.next())
      }
      return
    }
    this.writing = undefined
    if (this.unflushed > 0 || this.waiters.length > 0) {
      this.schedule()
    }
  }
}

/** Open an outbox on `store`. */
export async function openOutbox (store: OutboxStore, init?: OutboxInit, options?: AbortOptions): Promise<Outbox> {
  return Outbox.open(store, init, options)
}

/** Records in memory: for Node and tests (it survives a messenger, not a process). */
export function memoryOutboxStore (): OutboxStore & { records: Map<string, OutboxRecord>, lanes: Map<string, OutboxLane> } {
  const records = new Map<string, OutboxRecord>()
  const lanes = new Map<string, OutboxLane>()
  const recordKey = (p: string, peer: string, seq: number): string => `${p}\n${peer}\n${String(seq).padStart(16, '0')}`
  return {
    records,
    lanes,
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
        lanes.set(key(l.protocol, l.peer), l)
      }
    },
    close () {}
  }
}

interface DirtyLane { lane: OutboundLane, protocol: string, peer: string }

/**
 * The records to put: those not released since they were queued (a removal
 * covers the records queued before it, `marks[i]` of them).
 */
function unreleased (puts: OutboxRecord[], removes: OutboxRemoval[], marks: number[]): OutboxRecord[] {
  if (removes.length === 0) {
    return puts
  }
  return puts.filter((r, i) => !removes.some((x, j) => marks[j] > i && x.peer === r.peer && x.protocol === r.protocol && r.seq >= x.first && r.seq <= x.last))
}

interface PendingRange { lane: OutboundLane, protocol: string, peer: string, first: number, last: number, confirmed: boolean }

/** The records of the messages of `ranges` still in their lanes' queues, payloads copied out of the frames. */
function records (ranges: Iterable<PendingRange>): OutboxRecord[] {
  const out: OutboxRecord[] = []
  for (const r of ranges) {
    const queue = r.lane.queue
    const head = r.lane.nextSeq - queue.length
    for (let seq = Math.max(r.first, head); seq <= r.last; seq++) {
      const frame = queue.at(seq - head)
      let offset = varintLength(frame.byteLength - varintLength(frame.byteLength)) // the length prefix
      if (r.confirmed) {
        offset += varintLength(seq)
      }
      const record: OutboxRecord = { protocol: r.protocol, peer: r.peer, seq, payload: frame.slice(offset) }
      fromRange.add(record)
      out.push(record)
    }
  }
  return out
}

/** Records made from ranges (a failed write makes them again from the queue instead of keeping them). */
const fromRange = new WeakSet<OutboxRecord>()
