/**
 * File transfers over a messenger channel: offers the receiving application
 * accepts or rejects, a window of chunks in flight acknowledged by the
 * receiver, progress, cancellation from either side, a digest checked at the
 * end, and resumption from the last stored chunk after a reconnect or a
 * reload of the receiver.
 *
 * One engine per transfer and direction. The sender drives: it sends at most
 * `window` chunks beyond the last acknowledged one; when it has heard nothing
 * from the receiver for `retryInterval` (and when the peer connects again) it
 * asks where the receiver is (QUERY, or the OFFER again before an answer),
 * and the receiver answers with the chunks it has stored (RESUME). Chunks go
 * in the messenger's default delivery mode: one lost with a broken stream
 * shows up at the receiver as a gap (a later index than expected), which the
 * receiver answers with a RESUME at once.
 */
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { TypedEventEmitter } from 'main-event'
import { createMessenger } from '../core/messenger.js'
import { DEFAULT_MAX_MESSAGE_SIZE } from '../core/constants.js'
import { MessengerStoppedError, StorageError, errorMessage } from '../errors.js'
import { stopController } from '../util/signals.js'
import { rootDigest, sha256 } from './digest.js'
import {
  InvalidTransferError, TransferCancelledError, TransferIntegrityError, TransferProtocolError, TransferRejectedError, TransferTooLargeError
} from './errors.js'
import { chunkSource } from './source.js'
import { memoryTransferStore } from './store.js'
import {
  ACCEPT, ACK, CANCEL, CANCEL_RECEIVE, CHUNK, DONE, END, MAX_ID_LENGTH, OFFER, QUERY, REJECT, RESUME, transferCodec
} from './wire.js'
import type { ChunkSource, TransferSource } from './source.js'
import type { StoredTransfer, TransferStore } from './store.js'
import type { CancelCode, CancelMessage, ChunkMessage, EndMessage, NextMessage, OfferMessage, TransferMessage } from './wire.js'
import type { Channel, MessengerNode } from '../core/channel.js'
import type { Messenger } from '../core/messenger.js'
import type { ComponentLogger, Logger, PeerId } from '@libp2p/interface'

/**
 * Bytes per chunk (one messenger message each).
 *
 * @default 64 KiB
 */
export const DEFAULT_CHUNK_SIZE = 64 * 1024

/**
 * Largest chunk size a receiver accepts: the transfer channel's message limit
 * (1 MiB) less room for the chunk header.
 *
 * @default 1 MiB - 128 bytes
 */
export const MAX_CHUNK_SIZE = DEFAULT_MAX_MESSAGE_SIZE - 128

/**
 * Chunks sent and not yet acknowledged, per transfer. The sender holds at most
 * this many chunks in memory, the receiver about as many in flight.
 *
 * @default 16
 */
export const DEFAULT_WINDOW = 16

/**
 * Largest window: a receiver treats a chunk this far beyond what it has
 * stored as a protocol error (a sender ignoring the window cannot make it
 * queue writes without bound).
 *
 * @default 64
 */
export const MAX_WINDOW = 64

/**
 * How long a sender waiting on its receiver (an answer to an offer, an
 * acknowledgement, the final check) waits before asking again.
 *
 * @default 5 s
 */
export const DEFAULT_RETRY_INTERVAL = 5_000

/**
 * Priority of the transfer channel among the messenger's channels: below the
 * default channel (0), so messages to the same peer go first.
 *
 * @default -1
 */
export const DEFAULT_TRANSFER_PRIORITY = -1

/**
 * Incoming transfers offered or under way at once; more offers are rejected
 * with reason `'busy'`.
 *
 * @default 32
 */
export const DEFAULT_MAX_INCOMING = 32

/**
 * Protocol id when `createTransfers()` is given a libp2p node rather than a messenger.
 *
 * @default '/libp2p-messenger/transfer/1.0.0'
 */
export const DEFAULT_TRANSFER_PROTOCOL = '/libp2p-messenger/transfer/1.0.0'

/** A sender reading a Blob reads this many chunks ahead (within its window). */
const READ_AHEAD = 4

/** The receiver acknowledges every this many chunks stored ... */
const ACK_EVERY = 4
/** ... and this many ms after the last chunk stored. */
const ACK_DELAY = 5
/** The received Blob is assembled from parts of about this many bytes. */
const BLOB_PART = 1024 * 1024

/** Finished transfers remembered to answer late duplicates (an OFFER, an END) of each. */
const MAX_FINISHED = 1_000

export interface TransfersInit {
  /**
   * Name of the messenger channel the transfers use when given a messenger
   * (its protocol id is `<messenger protocol>/<channel>`).
   *
   * @default 'transfer'
   */
  channel?: string
  /** Protocol id when given a libp2p node. @default '/libp2p-messenger/transfer/1.0.0' */
  protocol?: string
  /** Bytes per chunk sent (at most `MAX_CHUNK_SIZE`). @default 64 KiB */
  chunkSize?: number
  /** Chunks in flight per outgoing transfer. @default 16 */
  window?: number
  /** @default 5 s */
  retryInterval?: number
  /** Channel priority (the default channel has 0). @default -1 */
  priority?: number
  /** Where incoming chunks are kept. @default memoryTransferStore() */
  store?: TransferStore
  /** @default 32 */
  maxIncoming?: number
  /** Where logs go (`libp2p-messenger:transfer`); a libp2p node's own logger when given a node. */
  logger?: ComponentLogger
}

/** How far a transfer is. */
export interface TransferProgress {
  /** Bytes the receiver has stored (sender: acknowledged; receiver: stored). Never decreases. */
  bytes: number
  /** Total bytes, when known (always at the end). */
  total?: number
  /** Bytes per second over the last two seconds or so. */
  rate: number
}

export interface TransferEvents {
  /** The transfer moved on. */
  progress: CustomEvent<TransferProgress>
}

/** Counters of one transfer (for measuring resume overhead). */
export interface TransferStats {
  /** Chunk messages sent (sender) or received (receiver), including repeats. */
  chunks: number
  /** Sender: chunks sent again after a gap, a reconnect or a reload. Receiver: duplicates dropped. */
  repeated: number
  /** Times the transfer resumed (RESUME answers, reconnects). */
  resumes: number
}

/** One transfer, seen from either side. `done` settles once. */
export interface Transfer<R> {
  /** Unique id (random, 32 hex characters unless the sender chose one). */
  readonly id: string
  /** The other side. */
  readonly peer: PeerId
  readonly direction: 'send' | 'receive'
  readonly name: string
  /** MIME type ('' when not given). */
  readonly type: string
  /** Total bytes when known in advance (a stream source without `size` is known only at the end). */
  readonly size?: number
  /** The sender's application fields. */
  readonly meta?: unknown
  /** Progress now. */
  readonly progress: TransferProgress
  readonly stats: TransferStats
  /**
   * Resolves when the receiver has verified everything (sender: with
   * nothing; receiver: with the payload as a `Blob`). Rejects with
   * `TransferRejectedError`, `TransferCancelledError` (the other side
   * cancelled), the signal's reason (cancelled here), `TransferIntegrityError`,
   * `TransferProtocolError`, `StorageError` or `MessengerStoppedError`.
   */
  readonly done: Promise<R>
  /** Cancel; the other side's `done` rejects with `TransferCancelledError`. */
  cancel(reason?: string): void
  addEventListener: TypedEventEmitter<TransferEvents>['addEventListener']
  removeEventListener: TypedEventEmitter<TransferEvents>['removeEventListener']
}

export type OutgoingTransfer = Transfer<void>
export type IncomingTransfer = Transfer<Blob>

export interface SendOptions {
  /** File name shown to the receiver. */
  name: string
  /** MIME type. @default the Blob's type, or '' */
  type?: string
  /**
   * Total bytes. Taken from a Blob or Uint8Array (and checked against it);
   * for a stream, optional: with it the receiver knows the size before
   * accepting and checks every chunk against it.
   */
  size?: number
  /** Application fields, JSON (e.g. a thumbnail, a chat id), within the 1 MiB offer limit. */
  meta?: unknown
  /** Aborting cancels the transfer on both sides. */
  signal?: AbortSignal
  /**
   * Resume a transfer this sender started before its own reload: the id of
   * that transfer (`transfer.id`, which the application kept), with the same
   * source and options. The receiver answers with what it has stored; only the
   * rest is sent.
   */
  id?: string
}

/** An offer made to this side: accept or reject it before any chunk flows. */
export interface TransferOffer {
  readonly id: string
  readonly peer: PeerId
  readonly name: string
  readonly type: string
  readonly size?: number
  readonly meta?: unknown
  readonly chunkSize: number
  /** The digest the sender committed to in advance, if it did (see digest.ts). */
  readonly digest?: string
  /** Restored from the store after a reload of this side: `bytes` are already stored. */
  readonly resumed: boolean
  /** Bytes already stored (resumed offers). */
  readonly bytes: number
  /**
   * Accept: chunks start flowing. Aborting `signal` cancels the transfer on
   * both sides.
   */
  accept(options?: { signal?: AbortSignal }): IncomingTransfer
  /** Refuse: the sender's `done` rejects with `TransferRejectedError(reason)`. */
  reject(reason?: string): void
}

export interface TransfersEvents {
  /**
   * Someone offers a transfer. Call `accept()` or `reject()` on the detail
   * (now or later). With no listener, new offers are rejected
   * (`'not accepting transfers'`); offers restored after a reload wait.
   */
  offer: CustomEvent<TransferOffer>
}

export interface Transfers {
  /** The protocol id on the wire. */
  readonly protocol: string
  /** Resolves once transfers stored by a previous session are listed (their `offer` events are emitted). */
  readonly ready: Promise<void>
  /**
   * Send `source` to `peer`. Returns at once; the receiver is asked first
   * (its `offer` event), and the handle reports progress and completion.
   *
   * @throws InvalidTransferError for a bad source or options
   * @throws MessengerStoppedError after `stop()`
   */
  send(peer: PeerId | string, source: TransferSource, options: SendOptions): OutgoingTransfer
  /** Transfers under way (both directions). */
  list(): Array<Transfer<unknown>>
  /**
   * Stop: every transfer under way rejects with `MessengerStoppedError`
   * (without telling the other side, so both can resume later); the channel's
   * messenger is stopped when `createTransfers` created it.
   */
  stop(): Promise<void>
  addEventListener: TypedEventEmitter<TransfersEvents>['addEventListener']
  removeEventListener: TypedEventEmitter<TransfersEvents>['removeEventListener']
}

function isMessenger (target: unknown): target is Messenger<unknown> {
  return typeof (target as any)?.channel === 'function' && typeof (target as any)?.send === 'function' && 'ready' in (target as any)
}

function toPeerId (peer: PeerId | string): PeerId {
  return typeof peer === 'string' ? peerIdFromString(peer) : peer
}

function randomId (): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16))
  return [...bytes].map(b => b.toString(16).padStart(2, '0')).join('')
}

function abortReason (signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('The transfer was aborted', 'AbortError')
}

/** Bytes per second over a sliding window of samples. */
class Rate {
  private readonly samples: Array<[number, number]> = []
  add (bytes: number): number {
    const now = Date.now()
    this.samples.push([now, bytes])
    while (this.samples.length > 2 && now - this.samples[1][0] >= 2_000) {
      this.samples.shift()
    }
    const [t0, b0] = this.samples[0]
    return now > t0 ? Math.round((bytes - b0) * 1000 / (now - t0)) : 0
  }
}

/** What engines need from the transfers object. */
interface Host {
  readonly channel: Channel<TransferMessage>
  readonly store: TransferStore
  readonly log: Logger
  readonly retryInterval: number
  /** aborted by stop() */
  readonly signal: AbortSignal
  post(peer: PeerId, msg: TransferMessage): boolean
  finished(engine: Engine, outcome: Finished): void
}

type Finished = { kind: 'done' } | { kind: 'reject', reason: string } | { kind: 'cancel', code: CancelCode, reason: string }

abstract class Engine extends TypedEventEmitter<TransferEvents> {
  readonly id: string
  readonly peer: PeerId
  readonly name: string
  readonly type: string
  size?: number
  readonly meta?: unknown
  readonly stats: TransferStats = { chunks: 0, repeated: 0, resumes: 0 }
  progress: TransferProgress
  /** last time the other side was heard from */
  heard = Date.now()
  protected readonly host: Host
  protected settled = false
  private readonly rate = new Rate()
  private signal?: AbortSignal
  private onAbort?: () => void

  constructor (host: Host, id: string, peer: PeerId, name: string, type: string, size: number | undefined, meta: unknown) {
    super()
    this.host = host
    this.id = id
    this.peer = peer
    this.name = name
    this.type = type
    this.size = size
    this.meta = meta
    this.progress = { bytes: 0, total: size, rate: 0 }
  }

  get key (): string {
    return `${this.peer.toString()}|${this.id}`
  }

  protected watch (signal: AbortSignal | undefined): void {
    if (signal == null) {
      return
    }
    if (signal.aborted) {
      queueMicrotask(() => { this.abortLocally(abortReason(signal)) })
      return
    }
    this.signal = signal
    this.onAbort = () => { this.abortLocally(abortReason(signal)) }
    signal.addEventListener('abort', this.onAbort, { once: true })
  }

  protected unwatch (): void {
    if (this.onAbort != null) {
      this.signal?.removeEventListener('abort', this.onAbort)
      this.onAbort = undefined
    }
  }

  protected moved (bytes: number, total?: number): void {
    if (bytes < this.progress.bytes || (bytes === this.progress.bytes && total === this.progress.total)) {
      return
    }
    this.progress = { bytes, total: total ?? this.progress.total, rate: this.rate.add(bytes) }
    if (this.listenerCount('progress') > 0) {
      this.safeDispatchEvent('progress', { detail: this.progress })
    }
  }

  cancel (reason = 'cancelled'): void {
    this.abortLocally(new TransferCancelledError(reason), reason)
  }

  abstract readonly direction: 'send' | 'receive'
  abstract abortLocally (err: Error, reason?: string): void
  /** The messenger is stopping: settle without telling the other side. */
  abstract halt (err: Error): void
  /** The peer connected again. */
  abstract rejoined (): void
  /** Called now and then: ask again if the other side has gone quiet. */
  abstract tick (now: number): void
}

class Outgoing extends Engine implements OutgoingTransfer {
  readonly direction = 'send'
  readonly done: Promise<void>
  private readonly source: ChunkSource
  private readonly chunkSize: number
  private readonly window: number
  private readonly offer: OfferMessage
  private state: 'offering' | 'sending' | 'ending' | 'done' | 'failed' = 'offering'
  /** chunks 0 … base-1 are stored by the receiver */
  private base = 0
  /** the next chunk to send */
  private next = 0
  /** one past the highest chunk ever sent */
  private highest = 0
  /** chunks in total, once known */
  private total?: number
  /** sequential sources: chunks read so far, and their bytes */
  private read = 0
  private bytesRead = 0
  private readonly buffer = new Map<number, Uint8Array>()
  /** random sources: reads started ahead of sending */
  private readonly reads = new Map<number, Promise<Uint8Array | undefined>>()
  private readonly digests: Array<Promise<Uint8Array> | undefined> = []
  private pumping = false
  private resolve!: () => void
  private reject!: (err: Error) => void

  constructor (host: Host, peer: PeerId, source: TransferSource, options: SendOptions, chunkSize: number, window: number) {
    if (typeof options?.name !== 'string') {
      throw new InvalidTransferError('send() needs options.name')
    }
    if (options.id != null && (typeof options.id !== 'string' || options.id.length === 0 || new TextEncoder().encode(options.id).byteLength > MAX_ID_LENGTH)) {
      throw new InvalidTransferError(`options.id must be a string of 1 to ${MAX_ID_LENGTH} bytes`)
    }
    const chunks = chunkSource(source, chunkSize)
    if (options.size != null && (!Number.isSafeInteger(options.size) || options.size < 0)) {
      throw new InvalidTransferError('options.size must be a whole number of bytes')
    }
    if (options.size != null && chunks.size != null && options.size !== chunks.size) {
      throw new InvalidTransferError(`options.size (${options.size}) is not the source's size (${chunks.size})`)
    }
    const size = chunks.size ?? options.size
    const type = options.type ?? (typeof Blob !== 'undefined' && source instanceof Blob ? source.type : '')
    super(host, options.id ?? randomId(), peer, options.name, type, size, options.meta)
    this.source = chunks
    this.chunkSize = chunkSize
    this.window = window
    if (size != null) {
      this.total = Math.ceil(size / chunkSize)
    }
    this.offer = { kind: OFFER, id: this.id, name: this.name, type: this.type, size, meta: options.meta, chunkSize }
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.done.catch(() => {})
    this.watch(options.signal)
  }

  start (): void {
    this.post(this.offer)
  }

  private post (msg: TransferMessage): boolean {
    return this.host.post(this.peer, msg)
  }

  handle (msg: TransferMessage): void {
    if (this.settled) {
      return
    }
    this.heard = Date.now()
    switch (msg.kind) {
      case ACCEPT:
      case RESUME:
        this.resumeAt(msg)
        break
      case ACK:
        this.acked(msg.next)
        this.pump()
        break
      case REJECT:
        this.fail(new TransferRejectedError(msg.reason), { kind: 'reject', reason: msg.reason })
        break
      case DONE:
        // (also while offering: a restarted sender offering what the receiver already completed)
        if (this.state === 'ending' || this.state === 'sending' || this.state === 'offering') {
          if (this.total == null || this.base < this.total) {
            this.acked(this.total ?? this.base)
          }
          this.state = 'done'
          this.moved(this.size ?? this.bytesRead, this.size ?? this.bytesRead)
          this.settle({ kind: 'done' })
          this.resolve()
        }
        break
      case CANCEL_RECEIVE:
        this.remoteCancel(msg)
        break
      default:
        break
    }
  }

  private remoteCancel (msg: CancelMessage): void {
    if (msg.code === 'unknown') {
      if (this.state === 'offering') {
        return
      }
      // the receiver lost the transfer (it reloaded without a persistent store)
      if (this.source.random) {
        this.host.log('%p lost transfer %s: offering it again from the start', this.peer, this.id)
        this.stats.resumes++
        this.state = 'offering'
        this.base = 0
        this.next = 0
        this.buffer.clear()
        this.post(this.offer)
        return
      }
      this.fail(new TransferCancelledError('the receiver lost the transfer, and a stream source cannot start again'), { kind: 'cancel', code: 'unknown', reason: msg.reason })
      return
    }
    const err = msg.code === 'integrity'
      ? new TransferIntegrityError(`The receiver found the payload corrupt: ${msg.reason}`)
      : msg.code === 'protocol'
        ? new TransferProtocolError(`The receiver reported a protocol error: ${msg.reason}`)
        : msg.code === 'storage'
          ? new StorageError(`The receiver could not store the transfer: ${msg.reason}`)
          : new TransferCancelledError(msg.reason)
    this.fail(err, { kind: 'cancel', code: msg.code, reason: msg.reason })
  }

  private resumeAt (msg: NextMessage): void {
    if (this.total != null && (msg.from ?? msg.next) > this.total) {
      this.protocolError(`the receiver asked to resume at chunk ${msg.from ?? msg.next} of ${this.total}`)
      return
    }
    if (msg.next < this.base) {
      if (!this.source.random) {
        this.protocolError(`the receiver lost acknowledged chunks (${msg.next} < ${this.base}) of a stream source`)
        return
      }
      // the receiver lost chunks it had acknowledged: a Blob can send them again
      this.base = msg.next
    }
    if (this.state === 'offering') {
      this.host.log('%p accepted %s at chunk %d', this.peer, this.id, msg.from ?? msg.next)
      if ((msg.from ?? msg.next) > 0) {
        this.stats.resumes++
      }
    } else if (msg.kind === ACCEPT) {
      // an answer to an offer sent again while we were already sending: an acknowledgement
      this.acked(msg.next)
      this.pump()
      return
    } else {
      this.stats.resumes++
    }
    this.acked(msg.next)
    // send from where the receiver is (never below what it has acknowledged: a late RESUME)
    this.next = Math.max(msg.from ?? msg.next, this.base)
    // 'ending' too: the END is sent again once everything before it is
    this.state = 'sending'
    this.pump()
  }

  private acked (next: number): void {
    if (next <= this.base) {
      return
    }
    for (let i = this.base; i < next; i++) {
      this.buffer.delete(i)
      this.reads.delete(i)
    }
    this.base = next
    const bytes = this.total != null && next >= this.total ? (this.size ?? this.bytesRead) : next * this.chunkSize
    this.moved(bytes)
  }

  private pump (): void {
    if (this.pumping || this.settled) {
      return
    }
    this.pumping = true
    this.pumpLoop().catch((err: Error) => {
      this.host.log.error('transfer %s to %p failed - %e', this.id, this.peer, err)
      this.fail(err, { kind: 'cancel', code: 'cancelled', reason: errorMessage(err) }, true)
    }).finally(() => {
      this.pumping = false
    })
  }

  private async pumpLoop (): Promise<void> {
    while (this.state === 'sending' && !this.settled) {
      if (this.total != null && this.next >= this.total) {
        // sets 'ending', unless a RESUME moved us back meanwhile
        await this.sendEnd()
        continue
      }
      if (this.next >= this.base + this.window) {
        return
      }
      const index = this.next
      let data = this.buffer.get(index)
      if (data == null) {
        data = await this.readChunk(index)
        if (this.settled || this.state !== 'sending') {
          return
        }
        if (data == null) {
          // a stream source ended: now the size is known
          this.total = index
          this.size = this.bytesRead
          continue
        }
        if (index >= this.base) {
          this.buffer.set(index, data)
        }
      }
      if (this.next !== index) {
        // a RESUME moved us while reading
        continue
      }
      if (this.post({ kind: CHUNK, id: this.id, index, data }) === false) {
        // the messenger's queue is full: wait for room, then try again
        await this.host.channel.waitForRoom(this.peer, { signal: this.host.signal })
        continue
      }
      this.stats.chunks++
      if (index < this.highest) {
        this.stats.repeated++
      } else {
        this.highest = index + 1
      }
      this.next = index + 1
    }
  }

  private async readChunk (index: number): Promise<Uint8Array | undefined> {
    if (this.source.random) {
      // read a few chunks ahead, within the window: a Blob's slices are read asynchronously, one
      // at a time would leave the connection idle between them
      const until = Math.min(index + READ_AHEAD, this.base + this.window, this.total ?? Infinity)
      for (let i = index; i < until; i++) {
        if (!this.reads.has(i)) {
          const read = this.source.read(i)
          read.catch(() => {})
          this.reads.set(i, read)
        }
      }
      const pending = this.reads.get(index) ?? this.source.read(index)
      this.reads.delete(index)
      const data = await pending
      if (data != null && this.digests[index] == null) {
        this.digests[index] = sha256(data)
      }
      return data
    }
    // sequential: read up to `index` (after a sender reload the receiver may already hold the first chunks)
    for (;;) {
      const i = this.read
      const data = await this.source.read(i)
      if (data == null) {
        return undefined
      }
      this.read = i + 1
      this.bytesRead += data.byteLength
      if (this.size != null && this.bytesRead > this.size) {
        throw new InvalidTransferError(`The stream yields more than options.size (${this.size}) bytes`)
      }
      this.digests[i] = sha256(data)
      if (i >= index) {
        return data
      }
    }
  }

  private async sendEnd (): Promise<void> {
    const total = this.total as number
    if (this.size != null && !this.source.random && this.bytesRead !== this.size) {
      throw new InvalidTransferError(`The stream yielded ${this.bytesRead} bytes, options.size said ${this.size}`)
    }
    for (let i = 0; i < total; i++) {
      if (this.digests[i] == null) {
        // chunks a previous session sent (this sender reloaded): hash them from the source
        const data = await this.source.read(i)
        if (data == null) {
          throw new InvalidTransferError(`The source ended before chunk ${i}`)
        }
        this.digests[i] = sha256(data)
      }
    }
    const digest = await rootDigest(await Promise.all(this.digests.slice(0, total) as Array<Promise<Uint8Array>>))
    if (this.settled || this.state !== 'sending' || this.next < total) {
      return
    }
    this.state = 'ending'
    this.post({ kind: END, id: this.id, chunks: total, size: this.size ?? this.bytesRead, digest })
  }

  private protocolError (reason: string): void {
    this.post({ kind: CANCEL, id: this.id, code: 'protocol', reason })
    this.fail(new TransferProtocolError(reason), { kind: 'cancel', code: 'protocol', reason })
  }

  abortLocally (err: Error, reason = errorMessage(err)): void {
    if (this.settled) {
      return
    }
    this.post({ kind: CANCEL, id: this.id, code: 'cancelled', reason })
    this.fail(err, { kind: 'cancel', code: 'cancelled', reason })
  }

  halt (err: Error): void {
    this.fail(err, undefined)
  }

  rejoined (): void {
    // the receiver says where it is when it sees us again; before an answer, offer again
    if (this.state === 'offering') {
      this.poke()
    }
  }

  tick (now: number): void {
    if (!this.settled && now - this.heard >= this.host.retryInterval) {
      this.poke()
    }
  }

  private poke (): void {
    if (this.settled) {
      return
    }
    this.heard = Date.now()
    // don't pile questions up behind a queue that is not moving
    if (this.host.channel.pending(this.peer) > 0) {
      return
    }
    if (this.state === 'offering') {
      this.post(this.offer)
    } else {
      this.post({ kind: QUERY, id: this.id })
    }
  }

  private fail (err: Error, outcome: Finished | undefined, tell = false): void {
    if (this.settled) {
      return
    }
    if (tell) {
      this.post({ kind: CANCEL, id: this.id, code: 'cancelled', reason: errorMessage(err) })
    }
    this.state = 'failed'
    this.settle(outcome)
    this.reject(err)
  }

  private settle (outcome: Finished | undefined): void {
    this.settled = true
    this.unwatch()
    this.buffer.clear()
    this.reads.clear()
    this.digests.length = 0
    this.source.close()
    this.host.finished(this, outcome ?? { kind: 'cancel', code: 'cancelled', reason: 'stopped' })
  }
}

class Incoming extends Engine implements IncomingTransfer {
  readonly direction = 'receive'
  readonly done: Promise<Blob>
  readonly record: StoredTransfer
  state: 'offered' | 'receiving' | 'verifying' | 'done' | 'failed' = 'offered'
  /** chunks 0 … stored-1 are stored */
  private stored: number
  /** the next chunk expected from the wire (puts of stored … expected-1 are under way) */
  private expected: number
  /** lengths of chunks stored beyond `stored` (they completed out of order) */
  private readonly complete = new Map<number, number>()
  /** bytes in chunks 0 … stored-1 */
  private storedBytes: number
  private end?: EndMessage
  private resumeAskedAt = -1
  /** read back from the store and hashed: chunks 0 … verified-1 */
  private verified = 0
  private reading = false
  private readBytes = 0
  private readonly digests: Uint8Array[] = []
  private parts: Blob[] = []
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  /** the `next` last sent in an ACK, ACCEPT or RESUME */
  private lastAck = 0
  private ackTimer?: ReturnType<typeof setTimeout>
  /** the index of a chunk shorter than chunkSize (must be the last) */
  private short?: number
  private readonly chunkCount?: number
  private resolve!: (blob: Blob) => void
  private reject!: (err: Error) => void

  constructor (host: Host, peer: PeerId, record: StoredTransfer, stored = 0) {
    super(host, record.id, peer, record.name, record.type, record.size, record.meta)
    this.record = record
    this.stored = stored
    this.expected = stored
    this.storedBytes = this.bytesOf(stored)
    if (record.size != null) {
      this.chunkCount = Math.ceil(record.size / record.chunkSize)
    }
    this.progress = { bytes: this.bytesOf(stored), total: record.size, rate: 0 }
    this.done = new Promise<Blob>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.done.catch(() => {})
  }

  private bytesOf (chunks: number): number {
    const bytes = chunks * this.record.chunkSize
    return this.record.size != null ? Math.min(bytes, this.record.size) : bytes
  }

  private post (msg: TransferMessage): boolean {
    return this.host.post(this.peer, msg)
  }

  /** The offer the application sees. */
  offer (restored: boolean): TransferOffer {
    const r = this.record
    let answered = false
    const offer: TransferOffer = {
      id: r.id,
      peer: this.peer,
      name: r.name,
      type: r.type,
      size: r.size,
      meta: r.meta,
      chunkSize: r.chunkSize,
      digest: r.digest,
      resumed: restored,
      bytes: this.bytesOf(this.stored),
      accept: (options = {}) => {
        if (answered || this.state !== 'offered') {
          throw new InvalidTransferError('This offer was already answered')
        }
        answered = true
        this.accept(options.signal, restored)
        return this
      },
      reject: (reason = 'rejected') => {
        if (answered || this.state !== 'offered') {
          return
        }
        answered = true
        this.post({ kind: REJECT, id: this.id, reason })
        this.fail(new TransferRejectedError(reason), { kind: 'reject', reason }, restored)
      }
    }
    return offer
  }

  private accept (signal: AbortSignal | undefined, restored: boolean): void {
    this.watch(signal)
    this.state = 'receiving'
    if (restored) {
      this.readBack()
    }
    const opened = restored ? Promise.resolve() : this.host.store.open(this.record)
    opened.then(() => {
      if (this.state === 'receiving') {
        this.post({ kind: ACCEPT, id: this.id, next: this.stored, from: this.expected })
      }
    }, (err: Error) => {
      this.storageFailed(err)
    })
  }

  handle (msg: TransferMessage): void {
    if (this.settled) {
      return
    }
    this.heard = Date.now()
    switch (msg.kind) {
      case CHUNK:
        this.chunk(msg)
        break
      case END:
        this.ended(msg)
        break
      case OFFER:
        // the offer again: our ACCEPT was lost, or the sender reloaded (it starts from `from`;
        // a sender already sending takes it as an acknowledgement only)
        if (this.state === 'receiving') {
          this.post({ kind: ACCEPT, id: this.id, next: this.stored, from: this.expected })
        }
        break
      case QUERY:
        // the sender heard nothing for a while: say where we are, it sends from there
        if (this.state === 'receiving') {
          this.resumeAskedAt = this.expected
          this.stats.resumes++
          this.post({ kind: RESUME, id: this.id, next: this.stored, from: this.expected })
        }
        break
      case CANCEL:
        if (msg.code === 'unknown') {
          // the sender does not know this transfer (it reloaded): it may send it again with the same id
          return
        }
        this.fail(msg.code === 'protocol' ? new TransferProtocolError(`The sender reported a protocol error: ${msg.reason}`) : new TransferCancelledError(msg.reason),
          { kind: 'cancel', code: msg.code, reason: msg.reason }, true)
        break
      default:
        break
    }
  }

  private chunk (msg: ChunkMessage): void {
    this.stats.chunks++
    if (this.state !== 'receiving') {
      return
    }
    const { index, data } = msg
    if (index < this.expected) {
      this.stats.repeated++
      return
    }
    if (index > this.expected) {
      // a gap: chunks were lost with a broken stream; ask once per position
      if (this.resumeAskedAt !== this.expected) {
        this.resumeAskedAt = this.expected
        this.stats.resumes++
        this.post({ kind: RESUME, id: this.id, next: this.stored, from: this.expected })
      }
      return
    }
    if (index >= this.stored + MAX_WINDOW) {
      this.protocolError(`chunk ${index} is more than ${MAX_WINDOW} chunks beyond the ${this.stored} stored`)
      return
    }
    const limit = this.end?.chunks ?? this.chunkCount
    if (limit != null && index >= limit) {
      this.protocolError(`chunk ${index} beyond the last (${limit - 1})`)
      return
    }
    const cs = this.record.chunkSize
    if (this.record.size != null) {
      const want = Math.min(cs, this.record.size - index * cs)
      if (data.byteLength !== want) {
        this.protocolError(`chunk ${index} has ${data.byteLength} bytes, ${want} expected`)
        return
      }
    } else if (data.byteLength === 0 || data.byteLength > cs || this.short != null) {
      this.protocolError(`chunk ${index} has ${data.byteLength} bytes (chunk size ${cs}${this.short != null ? `, after the short chunk ${this.short}` : ''})`)
      return
    } else if (data.byteLength < cs) {
      this.short = index
    }
    // our own copy: `data` is a view of the messenger's receive buffer
    const bytes = data.slice()
    this.expected = index + 1
    this.host.store.put(this.id, index, bytes).then(() => {
      if (this.state !== 'receiving') {
        return
      }
      this.complete.set(index, bytes.byteLength)
      const before = this.stored
      for (let n = this.complete.get(this.stored); n != null; n = this.complete.get(this.stored)) {
        this.complete.delete(this.stored)
        this.storedBytes += n
        this.stored++
      }
      if (this.stored > before) {
        this.ack()
        this.moved(this.storedBytes)
        this.readBack()
        this.maybeFinish()
      }
    }, (err: Error) => {
      this.storageFailed(err)
    })
  }

  private ended (msg: EndMessage): void {
    if (this.state === 'done') {
      return
    }
    if (this.state !== 'receiving') {
      return
    }
    const cs = this.record.chunkSize
    if (this.record.size != null && msg.size !== this.record.size) {
      this.integrityError(`${msg.size} bytes sent, ${this.record.size} offered`)
      return
    }
    if (msg.chunks !== Math.ceil(msg.size / cs) || (this.record.digest != null && msg.digest !== this.record.digest)) {
      this.integrityError('the end of the transfer does not match its offer')
      return
    }
    if (this.expected > msg.chunks) {
      this.protocolError(`${this.expected} chunks received, ${msg.chunks} sent`)
      return
    }
    this.end = msg
    if (this.expected < msg.chunks && this.resumeAskedAt !== this.expected) {
      // chunks lost before the END: ask for them
      this.resumeAskedAt = this.expected
      this.stats.resumes++
      this.post({ kind: RESUME, id: this.id, next: this.stored, from: this.expected })
    }
    this.maybeFinish()
  }

  private maybeFinish (): void {
    if (this.state === 'receiving' && this.end != null && this.stored === this.end.chunks) {
      this.state = 'verifying'
      this.readBack()
    }
  }

  /**
   * Acknowledge what is stored: every ACK_EVERY chunks, and ACK_DELAY ms after
   * the last one (a send on a data channel costs as much as a whole chunk's).
   */
  private ack (): void {
    if (this.stored - this.lastAck >= ACK_EVERY || (this.end != null && this.stored === this.end.chunks)) {
      this.flushAck()
    } else {
      this.ackTimer ??= setTimeout(() => { this.flushAck() }, ACK_DELAY)
    }
  }

  private flushAck (): void {
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    if (this.stored > this.lastAck && !this.settled) {
      this.lastAck = this.stored
      this.post({ kind: ACK, id: this.id, next: this.stored })
    }
  }

  /**
   * Read the stored chunks back from the store, in order, trailing the
   * chunks stored while the transfer runs: hash each and add it to the Blob
   * (in parts of about 1 MiB). What is checked is what the store gives back.
   */
  private readBack (): void {
    if (this.reading || this.settled) {
      return
    }
    this.reading = true
    this.readBackLoop().then(() => {
      this.reading = false
      if (this.settled) {
        return
      }
      if (this.verified < this.stored) {
        // stored moved on between the loop's last look and now
        this.readBack()
        return
      }
      if (this.state === 'verifying' && this.end != null && this.verified === this.end.chunks) {
        return this.finish(this.end)
      }
    }).catch((err: Error) => {
      this.reading = false
      this.storageFailed(err)
    })
  }

  private async readBackLoop (): Promise<void> {
    while (!this.settled && this.verified < this.stored) {
      const i = this.verified
      const bytes = await this.host.store.get(this.id, i)
      if (this.settled) {
        return
      }
      this.readBytes += bytes.byteLength
      this.digests.push(await sha256(bytes))
      this.verified = i + 1
      this.pending.push(bytes)
      this.pendingBytes += bytes.byteLength
      if (this.pendingBytes >= BLOB_PART) {
        this.flushPart()
      }
    }
  }

  private flushPart (): void {
    if (this.pending.length > 0) {
      this.parts.push(new Blob(this.pending as Array<Uint8Array<ArrayBuffer>>))
      this.pending = []
      this.pendingBytes = 0
    }
  }

  private async finish (end: EndMessage): Promise<void> {
    this.flushPart()
    const size = this.readBytes
    const digest = await rootDigest(this.digests)
    if (this.settled) {
      return
    }
    if (size !== end.size || digest !== end.digest) {
      this.integrityError(size !== end.size ? `${size} bytes stored, ${end.size} sent` : `digest ${digest}, the sender's ${end.digest}`)
      return
    }
    const parts = this.parts
    const blob = new Blob(parts, { type: this.type })
    this.state = 'done'
    this.moved(end.size, end.size)
    this.post({ kind: DONE, id: this.id })
    this.settle({ kind: 'done' }, true)
    this.resolve(blob)
  }

  private integrityError (reason: string): void {
    this.post({ kind: CANCEL_RECEIVE, id: this.id, code: 'integrity', reason })
    this.fail(new TransferIntegrityError(`Transfer ${this.id} from ${this.peer.toString()} is corrupt: ${reason}`), { kind: 'cancel', code: 'integrity', reason }, true)
  }

  private protocolError (reason: string): void {
    this.post({ kind: CANCEL_RECEIVE, id: this.id, code: 'protocol', reason })
    this.fail(new TransferProtocolError(`Transfer ${this.id} from ${this.peer.toString()}: ${reason}`), { kind: 'cancel', code: 'protocol', reason }, true)
  }

  private storageFailed (err: Error): void {
    if (this.settled) {
      return
    }
    const reason = errorMessage(err)
    this.post({ kind: CANCEL_RECEIVE, id: this.id, code: 'storage', reason })
    this.fail(err instanceof StorageError ? err : new StorageError(`Transfer store: ${reason}`, { cause: err }), { kind: 'cancel', code: 'storage', reason }, true)
  }

  abortLocally (err: Error, reason = errorMessage(err)): void {
    if (this.settled) {
      return
    }
    this.post({ kind: CANCEL_RECEIVE, id: this.id, code: 'cancelled', reason })
    this.fail(err, { kind: 'cancel', code: 'cancelled', reason }, true)
  }

  halt (err: Error): void {
    // stored chunks stay for the next session
    this.fail(err, undefined, false)
  }

  rejoined (): void {
    // tell the sender where we are: it sends from there (once per position: a gap may have said it already)
    if (this.state === 'receiving' && this.resumeAskedAt !== this.expected) {
      this.stats.resumes++
      this.resumeAskedAt = this.expected
      this.post({ kind: RESUME, id: this.id, next: this.stored, from: this.expected })
    }
  }

  tick (): void {}

  private fail (err: Error, outcome: Finished | undefined, erase: boolean): void {
    if (this.settled) {
      return
    }
    this.state = 'failed'
    this.settle(outcome, erase)
    this.reject(err)
  }

  private settle (outcome: Finished | undefined, erase: boolean): void {
    this.settled = true
    this.unwatch()
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    this.complete.clear()
    this.parts = []
    this.pending = []
    this.digests.length = 0
    if (erase) {
      this.host.store.delete(this.id).catch((err: Error) => { this.host.log.error('could not delete transfer %s - %e', this.id, err) })
    }
    this.host.finished(this, outcome ?? { kind: 'cancel', code: 'cancelled', reason: 'stopped' })
  }
}

class TransfersImpl extends TypedEventEmitter<TransfersEvents> implements Transfers, Host {
  readonly protocol: string
  readonly channel: Channel<TransferMessage>
  readonly store: TransferStore
  readonly log: Logger
  readonly retryInterval: number
  readonly ready: Promise<void>
  readonly signal: AbortSignal
  private readonly ownsStore: boolean
  private readonly owned?: Messenger<TransferMessage>
  private readonly chunkSize: number
  private readonly window: number
  private readonly maxIncoming: number
  private readonly outgoing = new Map<string, Outgoing>()
  private readonly incoming = new Map<string, Incoming>()
  /** how recently finished transfers ended, to answer late duplicates */
  private readonly finishedOutcomes = new Map<string, Finished>()
  private readonly controller = stopController()
  private timer?: ReturnType<typeof setInterval>
  private stopped = false
  private readonly onJoin = (evt: CustomEvent<PeerId>): void => {
    const key = evt.detail.toString()
    for (const engine of [...this.outgoing.values(), ...this.incoming.values()]) {
      if (engine.peer.toString() === key) {
        engine.rejoined()
      }
    }
  }

  constructor (target: Messenger<any> | MessengerNode, init: TransfersInit) {
    super()
    this.chunkSize = init.chunkSize ?? DEFAULT_CHUNK_SIZE
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize < 1 || this.chunkSize > MAX_CHUNK_SIZE) {
      throw new InvalidTransferError(`chunkSize must be 1 to ${MAX_CHUNK_SIZE} bytes`)
    }
    this.window = init.window ?? DEFAULT_WINDOW
    if (!Number.isSafeInteger(this.window) || this.window < 1 || this.window > MAX_WINDOW) {
      throw new InvalidTransferError(`window must be a whole number of chunks, 1 to ${MAX_WINDOW}`)
    }
    this.retryInterval = init.retryInterval ?? DEFAULT_RETRY_INTERVAL
    this.maxIncoming = init.maxIncoming ?? DEFAULT_MAX_INCOMING
    this.store = init.store ?? memoryTransferStore()
    this.ownsStore = init.store == null
    this.signal = this.controller.signal
    const channelInit = {
      codec: transferCodec,
      priority: init.priority ?? DEFAULT_TRANSFER_PRIORITY,
      delivery: 'default' as const,
      durable: false,
      maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE
    }
    if (isMessenger(target)) {
      this.channel = target.channel<TransferMessage>(init.channel ?? 'transfer', channelInit)
    } else {
      this.owned = createMessenger<TransferMessage>(target as MessengerNode, { ...channelInit, protocol: init.protocol ?? DEFAULT_TRANSFER_PROTOCOL })
      this.channel = this.owned
    }
    this.protocol = this.channel.protocol
    const logger = init.logger ?? (isMessenger(target) ? undefined : (target as MessengerNode).logger) ?? defaultLogger()
    this.log = logger.forComponent('libp2p-messenger:transfer')
    this.channel.addEventListener('peer:join', this.onJoin)
    this.ready = this.restore()
    this.receiveLoop().catch((err: Error) => { this.log.error('receive loop ended - %e', err) })
  }

  send (peer: PeerId | string, source: TransferSource, options: SendOptions): OutgoingTransfer {
    if (this.stopped) {
      throw new MessengerStoppedError()
    }
    const to = toPeerId(peer)
    const engine = new Outgoing(this, to, source, options, this.chunkSize, this.window)
    this.checkLimits(to, engine.size)
    if (this.outgoing.has(engine.key)) {
      throw new InvalidTransferError(`A transfer ${engine.id} to ${to.toString()} is already under way`)
    }
    this.finishedOutcomes.delete(`out|${engine.key}`)
    this.outgoing.set(engine.key, engine)
    this.arm()
    engine.start()
    return engine
  }

  /**
   * A transfer that cannot fit the limited connection the peer is reached on
   * now fails before it starts. Its bytes on the wire: the payload, plus a
   * frame header per chunk and the control messages (bounded here by 1 % and
   * 4 KiB).
   *
   * @throws TransferTooLargeError
   */
  private checkLimits (peer: PeerId, size: number | undefined): void {
    const limit = this.channel.limits(peer)?.bytes
    if (size == null || limit == null) {
      return
    }
    const wire = BigInt(Math.ceil(size * 1.01) + 4096)
    if (wire > limit) {
      throw new TransferTooLargeError(size, limit)
    }
  }

  list (): Array<Transfer<unknown>> {
    return [...this.outgoing.values(), ...this.incoming.values()]
  }

  async stop (): Promise<void> {
    if (this.stopped) {
      return
    }
    this.stopped = true
    this.controller.abort(new MessengerStoppedError())
    clearInterval(this.timer)
    this.timer = undefined
    this.channel.removeEventListener('peer:join', this.onJoin)
    const err = new MessengerStoppedError('The transfers were stopped')
    for (const engine of [...this.outgoing.values(), ...this.incoming.values()]) {
      engine.halt(err)
    }
    await this.ready.catch(() => {})
    await this.owned?.stop()
    if (this.ownsStore) {
      await this.store.close?.()
    }
  }

  // --- Host ---

  post (peer: PeerId, msg: TransferMessage): boolean {
    if (this.stopped) {
      return false
    }
    try {
      return this.channel.send(peer, msg) > 0
    } catch (err) {
      this.log.error('could not send to %p - %e', peer, err)
      return false
    }
  }

  finished (engine: Engine, outcome: Finished): void {
    const map: Map<string, Engine> = engine.direction === 'send' ? this.outgoing : this.incoming
    if (map.get(engine.key) === engine) {
      map.delete(engine.key)
    }
    this.finishedOutcomes.set(`${engine.direction === 'send' ? 'out' : 'in'}|${engine.key}`, outcome)
    if (this.finishedOutcomes.size > MAX_FINISHED) {
      this.finishedOutcomes.delete(this.finishedOutcomes.keys().next().value as string)
    }
    if (this.outgoing.size === 0) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  // --- internals ---

  /** One timer for every outgoing transfer, running while there is one. */
  private arm (): void {
    if (this.timer != null) {
      return
    }
    this.timer = setInterval(() => {
      const now = Date.now()
      for (const engine of this.outgoing.values()) {
        engine.tick(now)
      }
    }, Math.max(50, Math.floor(this.retryInterval / 4)))
  }

  private async receiveLoop (): Promise<void> {
    const signal = this.controller.signal
    // transfers a previous session stored are known before any message is read
    await this.ready
    while (!this.stopped) {
      let received
      try {
        received = await this.channel.receive({ signal })
      } catch (err) {
        if (this.stopped) {
          return
        }
        throw err
      }
      try {
        this.dispatch(received.from, received.data)
      } catch (err) {
        this.log.error('transfer message from %p - %e', received.from, err)
      }
    }
  }

  private dispatch (from: PeerId, msg: TransferMessage): void {
    const key = `${from.toString()}|${msg.id}`
    switch (msg.kind) {
      case ACCEPT: case ACK: case RESUME: case REJECT: case DONE: case CANCEL_RECEIVE: {
        const engine = this.outgoing.get(key)
        if (engine != null) {
          engine.handle(msg)
        } else if (msg.kind !== CANCEL_RECEIVE && msg.kind !== DONE && msg.kind !== REJECT && this.finishedOutcomes.get(`out|${key}`) == null) {
          // a receiver resuming a transfer this side no longer has (it reloaded): say so
          this.post(from, { kind: CANCEL, id: msg.id, code: 'unknown', reason: 'no such transfer' })
        }
        return
      }
      case OFFER: {
        const engine = this.incoming.get(key)
        if (engine != null) {
          engine.handle(msg)
          return
        }
        const outcome = this.finishedOutcomes.get(`in|${key}`)
        if (outcome != null) {
          this.answerFinished(from, msg.id, outcome)
          return
        }
        this.offered(from, msg)
        return
      }
      case CHUNK: case END: case QUERY: case CANCEL: {
        const engine = this.incoming.get(key)
        if (engine != null) {
          engine.handle(msg)
          return
        }
        if (msg.kind === CANCEL) {
          return
        }
        const outcome = this.finishedOutcomes.get(`in|${key}`)
        if (outcome != null) {
          if (msg.kind !== CHUNK) {
            this.answerFinished(from, msg.id, outcome)
          }
          return
        }
        if (msg.kind !== CHUNK || msg.index === 0 || !this.unknownAnswered.has(key)) {
          this.unknownAnswered.add(key)
          if (this.unknownAnswered.size > MAX_FINISHED) {
            this.unknownAnswered.delete(this.unknownAnswered.values().next().value as string)
          }
          this.post(from, { kind: CANCEL_RECEIVE, id: msg.id, code: 'unknown', reason: 'no such transfer' })
        }
      }
    }
  }

  private readonly unknownAnswered = new Set<string>()

  private answerFinished (to: PeerId, id: string, outcome: Finished): void {
    if (outcome.kind === 'done') {
      this.post(to, { kind: DONE, id })
    } else if (outcome.kind === 'reject') {
      this.post(to, { kind: REJECT, id, reason: outcome.reason })
    } else {
      this.post(to, { kind: CANCEL_RECEIVE, id, code: outcome.code === 'unknown' ? 'cancelled' : outcome.code, reason: outcome.reason })
    }
  }

  private offered (from: PeerId, msg: OfferMessage): void {
    const reject = (reason: string): void => {
      this.post(from, { kind: REJECT, id: msg.id, reason })
    }
    if (msg.chunkSize > MAX_CHUNK_SIZE) {
      reject(`chunk size ${msg.chunkSize} over the receiver's limit of ${MAX_CHUNK_SIZE}`)
      return
    }
    if (this.incoming.size >= this.maxIncoming) {
      reject('busy')
      return
    }
    if (this.listenerCount('offer') === 0) {
      reject('not accepting transfers')
      return
    }
    const record: StoredTransfer = {
      id: msg.id, peer: from.toString(), name: msg.name, type: msg.type, size: msg.size, meta: msg.meta, chunkSize: msg.chunkSize, digest: msg.digest
    }
    const engine = new Incoming(this, from, record)
    this.incoming.set(engine.key, engine)
    this.safeDispatchEvent('offer', { detail: engine.offer(false) })
  }

  /** Transfers a previous session left in the store come back as resumed offers. */
  private async restore (): Promise<void> {
    let records: StoredTransfer[]
    try {
      records = await this.store.list()
    } catch (err) {
      this.log.error('could not list stored transfers - %e', err)
      return
    }
    for (const record of records) {
      if (this.stopped) {
        return
      }
      try {
        const peer = peerIdFromString(record.peer)
        const indices = await this.store.indices(record.id)
        let stored = 0
        while (stored < indices.length && indices[stored] === stored) {
          stored++
        }
        const engine = new Incoming(this, peer, record, stored)
        if (this.incoming.has(engine.key)) {
          continue
        }
        this.incoming.set(engine.key, engine)
        this.log('restored transfer %s from %p at chunk %d', record.id, peer, stored)
        this.safeDispatchEvent('offer', { detail: engine.offer(true) })
      } catch (err) {
        this.log.error('could not restore transfer %s - %e', record.id, err)
      }
    }
  }
}

/**
 * File transfers to and from peers, on their own channel.
 *
 * Given a messenger, the transfers use a channel of it (`<protocol>/transfer`)
 * with a priority below the default channel, so the messenger's messages to
 * the same peer go first. Given a libp2p node, they get a messenger of their
 * own (on `/libp2p-messenger/transfer/1.0.0`); then priorities are not shared
 * with your messenger (both still share the connection fairly).
 *
 * ```ts
 * const transfers = createTransfers(messenger, { store: indexedDBTransferStore({ name: `transfers/${node.peerId}` }) })
 * transfers.addEventListener('offer', (e) => {
 *   const offer = e.detail
 *   if ((offer.size ?? Infinity) > 500e6) return offer.reject('too large')
 *   const incoming = offer.accept()
 *   incoming.addEventListener('progress', (p) => render(p.detail.bytes, p.detail.total))
 *   incoming.done.then((blob) => save(offer.name, blob))
 * })
 * const outgoing = transfers.send(peerId, file, { name: file.name })
 * outgoing.addEventListener('progress', (p) => render(p.detail.bytes, p.detail.total))
 * await outgoing.done
 * ```
 */
export function createTransfers (target: Messenger<any> | MessengerNode, init: TransfersInit = {}): Transfers {
  return new TransfersImpl(target, init)
}
