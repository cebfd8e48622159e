/**
 * One peer, one channel, one direction: the outbound lane.
 *
 * It owns the queue of encoded frames and the one stream they are written to.
 * It opens that stream lazily on the first message, writes many frames per
 * `stream.send()`, waits for `drain` when the transport is full, reopens the
 * stream with backoff after a reset, moves to a better connection when one
 * appears (closing the old stream gracefully first, so the receiver can keep
 * order), and closes the stream after it has been idle.
 *
 * In confirmed mode every frame carries a sequence number; frames stay in the
 * queue after they are written until the receiver acknowledges them, and are
 * written again on the next stream if the current one breaks.
 */
import { Backoff } from '../util/backoff.js'
import { bestConnection, connectionTo, supersedes } from './connections.js'
import type { Dialer } from './connections.js'
import { MessengerStoppedError, QueueFullError, StreamOpenError, StreamResetError, errorMessage, withCause } from '../errors.js'
import { FrameDecoder, framePayload, varintLength, writeVarint } from './framing.js'
import { MAX_SEQ_BYTES, helloFrame, readAck } from './confirmed-wire.js'
import { FrameQueue } from './frame-queue.js'
import { timedSignal } from '../util/signals.js'
import { writable } from './stream-writable.js'
import { anySignal } from 'any-signal'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Codec } from './codec.js'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'

/** What a lane needs from the libp2p node. */
/** What a lane needs of the libp2p node. */
export type LaneNode = Dialer

/** What to do with a message that does not fit in a full queue. */
export type QueuePolicy = 'drop-newest' | 'drop-oldest' | 'error'

/** Why messages were dropped. */
export type DropReason = 'queue-full' | 'expired' | 'stopped' | 'unsaved'

export interface LaneOptions {
  protocol: string
  confirmed: boolean
  maxQueuedMessages: number
  maxQueuedBytes: number
  maxBatchBytes: number
  idleTimeout: number
  minBackoff: number
  maxBackoff: number
  openTimeout: number
  queueTtl: number
  maxUnacked: number
  policy: QueuePolicy
}

/** Shared count of queued bytes across all lanes of a messenger. */
export interface Budget {
  bytes: number
  readonly max: number
}

/** The lane's owner: where it reports what happened. */
export interface LaneHost {
  readonly node: LaneNode
  readonly budget: Budget
  readonly signal: AbortSignal
  readonly log: Logger
  /** Resolves when this lane may write (higher-priority lanes to the same peer go first), or undefined to write now. */
  waitTurn(lane: OutboundLane): Promise<void> | undefined
  /** Frames [first, last] were handed to the transport. */
  sent(lane: OutboundLane, first: number, last: number): void
  /** Confirmed mode: frames [first, last] were acknowledged by the receiver. */
  delivered(lane: OutboundLane, first: number, last: number): void
  /**
   * `count` messages were dropped: those numbered `first`…`last`, or, with no
   * numbers, messages refused before they got one (their `send()` returned -1).
   */
  dropped(lane: OutboundLane, first: number | undefined, last: number | undefined, count: number, reason: DropReason, error?: Error, unconfirmed?: boolean): void
  error(lane: OutboundLane, err: Error): void
  /** The lane has nothing queued and no stream: it may be forgotten. */
  idle(lane: OutboundLane): void
  /** The lane has nothing left to write (priority waiters may go). */
  drained(lane: OutboundLane): void
  /** The queue shrank (room waiters may go). */
  shrunk(lane: OutboundLane): void
}

/** Payloads larger than this are queued by reference rather than copied. */
export const LARGE_PAYLOAD = 4096
/** A stream that stayed up this long counts as a success for backoff purposes. */
const STABLE_STREAM_MS = 2_000
/**
 * Bytes a stream may hold in its own write buffer before the lane stops adding
 * more (yamux signals 'drain' on every window update, however small).
 */
const STREAM_HIGH_WATER = 1024 * 1024
/** Connections one stream open may try when better ones keep appearing. */
const MAX_OPEN_ATTEMPTS = 3
/** Longest a graceful close of a replaced stream may take before it is aborted. */
const HANDOVER_CLOSE_TIMEOUT = 5_000

export class OutboundLane {
  readonly peer: PeerId
  readonly queue: FrameQueue
  /** Confirmed mode: frames at the front of the queue that were written and await an ack. */
  written = 0
  /** Confirmed mode: the highest sequence number ever written to a stream. */
  highestWritten = 0
  /** Confirmed mode: identifies this sender's sequence space to the receiver. */
  readonly epoch: Uint8Array

  private readonly host: LaneHost
  private readonly opts: LaneOptions
  private readonly log: Logger
  private stream?: Stream
  private conn?: Connection
  private running = false
  private stopped = false
  private migrate = false
  private openedAt = 0
  private readonly backoff: Backoff
  private retryTimer?: ReturnType<typeof setTimeout>
  private idleTimer?: ReturnType<typeof setTimeout>
  private expiryTimer?: ReturnType<typeof setTimeout>
  private wokeEarly = false
  private ackWaiter?: PromiseWithResolvers<void>
  /** aborts the loop's wait for drain when the lane moves to a better connection */
  private interrupt?: AbortController
  /** the stream negotiation under way, abandoned when a better connection appears */
  private opening?: { conn: Connection, controller: AbortController }
  private readonly runs: Uint8Array[] = []
  private readonly sentRanges: number[] = []
  private readonly onStreamClose: (evt: Event) => void

  constructor (peer: PeerId, host: LaneHost, opts: LaneOptions, firstSeq = 1, epoch?: Uint8Array) {
    this.peer = peer
    this.host = host
    this.opts = opts
    this.queue = new FrameQueue(firstSeq)
    this.backoff = new Backoff(opts.minBackoff, opts.maxBackoff)
    this.log = host.log.newScope(`to:${peer.toString().slice(-8)}`)
    this.epoch = epoch ?? crypto.getRandomValues(new Uint8Array(8))
    this.onStreamClose = (evt) => { this.streamClosed(evt.target as Stream, (evt as Event & { error?: Error }).error) }
  }

  /** Frames not yet handed to a stream. */
  get unwritten (): number {
    return this.queue.length - this.written
  }

  /** The connection the lane's stream runs on, if it has one. */
  get connection (): Connection | undefined {
    return this.stream != null ? this.conn : undefined
  }

  /** True while the lane has a stream or is writing. */
  get active (): boolean {
    return this.running || this.stream != null
  }

  /** Sequence number of the next message. */
  get nextSeq (): number {
    return this.queue.nextSeq
  }

  /**
   * Queue `value`, encoded straight into the lane's buffer. Returns its
   * sequence number, or -1 when the queue policy dropped it. `length` is the
   * encoded payload size (already checked against the size limit).
   */
  enqueue<T> (value: T, codec: Codec<T>, length: number, encoded?: Uint8Array): number {
    const seq = this.queue.nextSeq
    const body = this.opts.confirmed ? varintLength(seq) + length : length
    const size = varintLength(body) + body
    if (!this.admit(size)) {
      return -1
    }
    if (encoded != null && length > LARGE_PAYLOAD) {
      // a large payload goes by reference: only its prefix is new
      const head = new Uint8Array(size - length)
      const offset = writeVarint(body, head, 0)
      if (this.opts.confirmed) {
        writeVarint(seq, head, offset)
      }
      this.queue.pushParts(head, encoded)
    } else {
      const buf = this.queue.reserve(size)
      let offset = writeVarint(body, buf, this.queue.reservedAt)
      if (this.opts.confirmed) {
        offset = writeVarint(seq, buf, offset)
      }
      if (encoded != null) {
        buf.set(encoded, offset)
      } else {
        (codec.encodeInto as NonNullable<Codec<T>['encodeInto']>)(value, buf, offset)
      }
      this.queue.commit(size)
    }
    this.host.budget.bytes += size
    this.kick()
    return seq
  }

  /** Queue an already framed message (default mode: one frame shared by many lanes). */
  enqueueFrame (frame: Uint8Array): number {
    if (!this.admit(frame.byteLength)) {
      return -1
    }
    return this.commit(frame)
  }

  /**
   * Put back messages restored from storage, with their sequence numbers,
   * before anything new is queued; new messages continue at `nextSeq`.
   * Numbers between restored messages (lost before a restart, and reported)
   * are skipped, never reused.
   */
  restore (records: Array<{ seq: number, payload: Uint8Array }>, nextSeq: number): void {
    if (this.queue.length > 0) {
      throw new Error('restore() must come before any send')
    }
    this.queue.firstSeq = records[0]?.seq ?? nextSeq
    for (const { seq, payload } of records) {
      this.queue.skip(seq - this.queue.nextSeq)
      const body = this.opts.confirmed ? varintLength(seq) + payload.byteLength : payload.byteLength
      const frame = new Uint8Array(varintLength(body) + body)
      let offset = writeVarint(body, frame, 0)
      if (this.opts.confirmed) {
        offset = writeVarint(seq, frame, offset)
      }
      frame.set(payload, offset)
      this.queue.push(frame)
      this.host.budget.bytes += frame.byteLength
    }
    this.queue.skip(nextSeq - this.queue.nextSeq)
    this.kick()
  }

  /** The message bytes of the i-th queued frame (for the outbox). */
  payloadAt (i: number): Uint8Array {
    return framePayload(this.queue.at(i), this.opts.confirmed)
  }

  /** A connection to this lane's peer opened: maybe retry now, maybe move to it. */
  connectionOpened (conn: Connection): void {
    if (this.stopped) {
      return
    }
    if (this.opening != null && supersedes(conn, this.opening.conn)) {
      this.opening.controller.abort()
    }
    if (this.stream != null) {
      // a better connection, or a newer one as good (the peer reloaded: the old one is likely dead)
      if (this.conn != null && supersedes(conn, this.conn)) {
        this.migrate = true
        if (this.running || this.unwritten > 0) {
          // a loop waiting on the old stream (for drain, or for acks) moves on now
          this.interrupt?.abort()
          this.ackWaiter?.resolve()
          this.ackWaiter = undefined
          this.kick()
        } else {
          // idle: let the old stream go now; the next message opens on the better connection
          // (confirmed mode: what awaits an acknowledgement goes again there, now)
          this.handover(this.stream)
          this.kick()
        }
      }
      return
    }
    // waiting out a backoff: one early retry per failure streak, never a storm
    if (this.retryTimer != null && !this.wokeEarly) {
      this.wokeEarly = true
      clearTimeout(this.retryTimer)
      this.retryTimer = undefined
      this.kick()
    }
  }

  /** Confirmed mode: the receiver has everything up to and including `seq`. */
  ack (seq: number): void {
    let count = 0
    while (count < this.queue.length && this.queue.seqAt(count) <= seq) {
      count++
    }
    if (count === 0) {
      return
    }
    const ranges: Array<[number, number]> = []
    this.queue.ranges(0, count, (first, last) => { ranges.push([first, last]) })
    for (let i = 0; i < count; i++) {
      this.host.budget.bytes -= this.queue.shift()
    }
    this.written = Math.max(0, this.written - count)
    this.backoff.reset()
    this.host.shrunk(this)
    for (const [first, last] of ranges) {
      this.host.delivered(this, first, last)
    }
    this.ackWaiter?.resolve()
    this.ackWaiter = undefined
    if (this.queue.length === 0) {
      this.host.drained(this)
      this.armIdle()
    }
  }

  /**
   * Drop everything queued; `reason` goes to the drop event. In confirmed mode
   * the frames already written may have arrived: they are reported apart, as
   * unconfirmed.
   */
  dropAll (reason: DropReason, error?: Error): void {
    const count = this.queue.length
    if (count === 0) {
      return
    }
    // confirmed mode: every frame that was ever written may have arrived (written resets on a new stream)
    let written = 0
    while (this.opts.confirmed && written < count && this.queue.seqAt(written) <= this.highestWritten) {
      written++
    }
    const ranges: Array<[number, number, boolean]> = []
    this.queue.ranges(0, written, (first, last) => { ranges.push([first, last, true]) })
    this.queue.ranges(written, count, (first, last) => { ranges.push([first, last, false]) })
    this.host.budget.bytes -= this.queue.bytes
    this.queue.clear()
    this.written = 0
    for (const [first, last, unconfirmed] of ranges) {
      this.host.dropped(this, first, last, last - first + 1, reason, error, unconfirmed)
    }
    this.host.drained(this)
    this.host.shrunk(this)
  }

  /**
   * Release the stream and every timer. Queued frames are dropped with reason
   * `'stopped'` unless `keepQueued` (they are in durable storage).
   */
  stop (keepQueued = false): void {
    if (this.stopped) {
      return
    }
    this.stopped = true
    clearTimeout(this.retryTimer)
    clearTimeout(this.idleTimer)
    clearTimeout(this.expiryTimer)
    this.ackWaiter?.reject(new MessengerStoppedError())
    this.ackWaiter = undefined
    if (keepQueued) {
      // they stay stored (the outbox writes the queue as it is now, once more)
      this.host.budget.bytes -= this.queue.bytes
    } else {
      this.dropAll('stopped')
    }
    const stream = this.stream
    this.detach()
    if (stream != null) {
      stream.abort(new MessengerStoppedError())
    }
  }

  /** Start writing if there is something to write and nothing in the way. */
  kick (): void {
    if (this.running || this.stopped || this.retryTimer != null || this.unwritten === 0) {
      return
    }
    clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    this.running = true
    queueMicrotask(() => { void this.run() })
  }

  /** At most half full: what `waitForRoom()` waits for. */
  hasRoom (): boolean {
    const budget = this.host.budget
    return this.queue.length <= this.opts.maxQueuedMessages / 2 &&
      this.queue.bytes <= this.opts.maxQueuedBytes / 2 &&
      budget.bytes <= budget.max / 2
  }

  private full (size: number): boolean {
    const budget = this.host.budget
    return this.queue.length >= this.opts.maxQueuedMessages ||
      this.queue.bytes + size > this.opts.maxQueuedBytes ||
      budget.bytes + size > budget.max
  }

  private admit (size: number): boolean {
    if (!this.full(size)) {
      return true
    }
    if (this.opts.policy === 'error') {
      throw new QueueFullError(`Queue to ${this.peer.toString()} on ${this.opts.protocol} is full`)
    }
    if (this.opts.policy === 'drop-oldest') {
      // evict unwritten frames from the front (only while nothing awaits an ack before them)
      while (this.full(size) && this.unwritten > 0 && this.written === 0) {
        const seq = this.queue.seqAt(0)
        this.host.budget.bytes -= this.queue.shift()
        this.host.dropped(this, seq, seq, 1, 'queue-full')
      }
      if (!this.full(size)) {
        return true
      }
    }
    // refused: it never gets a sequence number (send() returns -1), and the event names none
    this.host.dropped(this, undefined, undefined, 1, 'queue-full')
    return false
  }

  private commit (frame: Uint8Array): number {
    const seq = this.queue.push(frame)
    this.host.budget.bytes += frame.byteLength
    this.kick()
    return seq
  }

  private async run (): Promise<void> {
    let stream: Stream | undefined
    try {
      while (!this.stopped && this.unwritten > 0) {
        if (this.retryTimer != null) {
          return // backing off: the timer starts the next run
        }
        stream = this.stream
        if (stream == null) {
          stream = await this.open()
          if (stream == null) {
            return
          }
        }
        if (this.migrate) {
          this.handover(stream)
          continue
        }
        const turn = this.host.waitTurn(this)
        if (turn != null) {
          await turn
          continue
        }
        if (this.opts.confirmed && this.written >= this.opts.maxUnacked) {
          this.ackWaiter = Promise.withResolvers<void>()
          await this.ackWaiter.promise
          continue
        }
        this.writeBatch(stream)
        if (stream.writableNeedsDrain || stream.writeBufferLength > STREAM_HIGH_WATER) {
          // a better connection appearing ends the wait: a dead stream's drain may never come
          const interrupt = new AbortController()
          const signal = anySignal([this.host.signal, interrupt.signal])
          this.interrupt = interrupt
          try {
            await writable(stream, STREAM_HIGH_WATER, signal)
          } catch (err) {
            if (interrupt.signal.aborted && !this.stopped) {
              continue
            }
            throw err
          } finally {
            signal.clear()
            this.interrupt = undefined
          }
        }
      }
    } catch (err: any) {
      // a stream that closed under us was already handled by its 'close' event
      if (!this.stopped && stream != null && stream === this.stream) {
        this.failed(err)
      }
    } finally {
      this.running = false
    }
    if (!this.stopped && this.unwritten === 0) {
      this.host.drained(this)
      if (this.written === 0) {
        this.armIdle()
      }
    } else if (!this.stopped && this.unwritten > 0 && this.retryTimer == null) {
      // something was queued while the loop was ending
      this.kick()
    }
  }

  /** Hand one batch to the stream. */
  private writeBatch (stream: Stream): void {
    const queue = this.queue
    const from = this.written
    let to = from
    let bytes = 0
    // confirmed mode: at most maxUnacked frames in flight
    const end = this.opts.confirmed ? Math.min(queue.length, this.opts.maxUnacked) : queue.length
    while (to < end) {
      const size = queue.sizeAt(to)
      if (bytes > 0 && bytes + size > this.opts.maxBatchBytes) {
        break
      }
      bytes += size
      to++
    }
    const runs = this.runs
    runs.length = 0
    queue.runs(from, to, runs)
    // one send() per batch: the stream cuts it into transport-sized chunks
    // without leaving a tiny chunk at every frame boundary
    stream.send(runs.length === 1 ? runs[0] : new Uint8ArrayList(...runs))
    runs.length = 0
    const ranges = this.sentRanges
    ranges.length = 0
    queue.ranges(from, to, (first, last) => { ranges.push(first, last) })
    if (this.opts.confirmed) {
      this.written = to
      this.highestWritten = Math.max(this.highestWritten, queue.seqAt(to - 1))
    } else {
      for (let i = from; i < to; i++) {
        queue.shift()
      }
      this.host.budget.bytes -= bytes
      this.host.shrunk(this)
    }
    for (let i = 0; i < ranges.length; i += 2) {
      this.host.sent(this, ranges[i], ranges[i + 1])
    }
  }

  private async open (): Promise<Stream | undefined> {
    const timed = timedSignal(this.opts.openTimeout, this.host.signal)
    try {
      // one attempt: the lane's own backoff paces retries
      let conn = await connectionTo(this.host.node, this.peer, timed.signal, 1)
      let stream: Stream | undefined
      for (let attempt = 1; stream == null; attempt++) {
        const opening = new AbortController()
        const signal = anySignal([timed.signal, opening.signal])
        this.opening = { conn, controller: opening }
        try {
          stream = await conn.newStream(this.opts.protocol, { signal, runOnLimitedConnection: true })
        } catch (err) {
          // a better connection appeared (or this one became suspect) while negotiating: go there now
          const better = bestConnection(this.host.node.getConnections(this.peer))
          if (opening.signal.aborted && !this.stopped && better != null && attempt < MAX_OPEN_ATTEMPTS) {
            conn = better
            continue
          }
          throw err
        } finally {
          signal.clear()
          this.opening = undefined
        }
        // a better connection appeared while this one was opening: use it (nothing was written here)
        const better = bestConnection(this.host.node.getConnections(this.peer))
        if (better != null && supersedes(better, conn) && !this.stopped && attempt < MAX_OPEN_ATTEMPTS) {
          const unused = stream
          this.log('a better connection appeared while opening: using it')
          unused.close().catch((err: Error) => { unused.abort(err) })
          stream = undefined
          conn = better
        }
      }
      if (this.stopped) {
        stream.abort(new MessengerStoppedError())
        return undefined
      }
      this.stream = stream
      this.conn = conn
      this.log('opened %s on a %s connection', this.opts.protocol, conn.direct ? 'direct' : conn.limits != null ? 'limited relayed' : 'relayed')
      this.openedAt = Date.now()
      this.wokeEarly = false
      clearTimeout(this.expiryTimer)
      this.expiryTimer = undefined
      stream.addEventListener('close', this.onStreamClose)
      if (this.opts.confirmed) {
        this.readAcksFrom(stream)
        stream.send(helloFrame(this.epoch))
        // whatever was written before but not acknowledged goes again
        this.written = 0
      }
      // a better connection may have appeared while opening
      const best = bestConnection(this.host.node.getConnections(this.peer))
      this.migrate = best != null && supersedes(best, conn)
      return stream
    } catch (err: any) {
      if (!this.stopped) {
        this.scheduleRetry(new StreamOpenError(`Could not open ${this.opts.protocol} to ${this.peer.toString()}: ${errorMessage(err)}`, { cause: err }))
      }
      return undefined
    } finally {
      timed.clear()
    }
  }

  /**
   * Move to a better connection: the old stream is closed (its data, then its
   * end, still go out) and the next write opens a new one at once. The
   * receiver reads a peer's streams one after the other, so nothing is
   * reordered; an old stream whose close does not complete is aborted.
   */
  private handover (old: Stream): void {
    this.log('moving to a better connection')
    this.migrate = false
    this.detach()
    if (this.opts.confirmed) {
      // what was written but not acknowledged goes again on the new stream (acks still come on the old one)
      this.written = 0
    }
    const timed = timedSignal(HANDOVER_CLOSE_TIMEOUT, this.host.signal)
    old.close({ signal: timed.signal })
      .catch((err: Error) => {
        this.log('the replaced stream did not close in time, aborting it - %e', err)
        old.abort(err)
      })
      .finally(() => { timed.clear() })
  }

  /** Confirmed mode: read the receiver's cumulative acknowledgements from `stream` until it closes. */
  private readAcksFrom (stream: Stream): void {
    const decoder = new FrameDecoder(MAX_SEQ_BYTES)
    const onAck = (payload: Uint8Array): void => { this.ack(readAck(payload)) }
    const onMessage = (evt: Event): void => {
      try {
        decoder.push((evt as Event & { data: Uint8Array }).data, onAck)
      } catch (err: any) {
        this.log.error('bad acknowledgement, resetting the stream - %e', err)
        stream.abort(err)
      }
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', () => { stream.removeEventListener('message', onMessage) }, { once: true })
  }

  private streamClosed (stream: Stream, error?: Error): void {
    if (stream !== this.stream) {
      return
    }
    this.detach()
    if (this.opts.confirmed) {
      this.written = 0
    }
    if (this.stopped) {
      return
    }
    if (error != null) {
      this.failed(error)
    } else if (this.unwritten > 0) {
      this.kick()
    }
  }

  private failed (err: Error): void {
    const stream = this.stream
    this.detach()
    if (stream != null && stream.status === 'open') {
      stream.abort(err)
    }
    if (this.opts.confirmed) {
      this.written = 0
    }
    this.scheduleRetry(err instanceof StreamOpenError ? err : withCause(new StreamResetError(`Stream ${this.opts.protocol} to ${this.peer.toString()} failed: ${err.message}`), err))
  }

  private scheduleRetry (err: Error): void {
    this.log('stream failed (%d before) - %e', this.backoff.failures, err)
    if (Date.now() - this.openedAt > STABLE_STREAM_MS && this.openedAt > 0) {
      this.backoff.reset()
    }
    this.openedAt = 0
    if (this.backoff.failures === 0) {
      this.host.error(this, err)
    }
    if (this.unwritten === 0 && this.written === 0) {
      return
    }
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.kick()
    }, this.backoff.next())
    if (this.expiryTimer == null && Number.isFinite(this.opts.queueTtl)) {
      this.expiryTimer = setTimeout(() => {
        this.expiryTimer = undefined
        if (this.stream == null) {
          clearTimeout(this.retryTimer)
          this.retryTimer = undefined
          this.dropAll('expired', err)
          this.backoff.reset()
          this.armIdle()
        }
      }, this.opts.queueTtl)
    }
  }

  private detach (): void {
    // a loop waiting for acks from this stream must not wait forever
    this.ackWaiter?.resolve()
    this.ackWaiter = undefined
    const stream = this.stream
    if (stream != null) {
      stream.removeEventListener('close', this.onStreamClose)
    }
    this.stream = undefined
    this.conn = undefined
  }

  private armIdle (): void {
    if (this.stopped || this.running) {
      return
    }
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.running || this.queue.length > 0) {
        return
      }
      const stream = this.stream
      this.detach()
      this.queue.releaseSlab()
      if (stream != null) {
        this.log.trace('idle: closing the stream')
        stream.close().catch((err: Error) => { stream.abort(err) })
      }
      if (this.retryTimer == null) {
        this.host.idle(this)
      }
    }, this.opts.idleTimeout)
  }
}
