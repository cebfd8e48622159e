/**
 * One peer, one channel, inbound: reads the streams that peer opens to us.
 *
 * Order across streams: when the sender replaces a stream (a better
 * connection, a reconnect), it closes the old one before writing to the new
 * one, but the two can still arrive interleaved (a relayed path is slower than
 * a direct one). So only the oldest stream is read; newer ones stay paused
 * until it ends. An old stream that goes silent while a newer one waits is
 * abandoned after `handoverTimeout`.
 *
 * Bad input (a bad prefix, an oversized frame, a payload the codec rejects, a
 * stream ending mid-frame) resets that one stream and is reported; nothing
 * else is affected.
 *
 * Confirmed mode: the first frame of a stream is a hello naming the sender's
 * sequence space (epoch); data frames carry a sequence number. Duplicates are
 * dropped; the receiver acknowledges, cumulatively, what the application has
 * taken.
 */
import { InboundOverflowError, MalformedMessageError, TruncatedFrameError, errorMessage } from '../errors.js'
import { FrameDecoder } from './framing.js'
import { HELLO_SEQ, ackFrame, helloEpoch, readSequenced } from './confirmed-wire.js'
import type { Codec } from './codec.js'
import type { InboxSource } from './inbox.js'
import { StreamBufferError } from '@libp2p/interface'
import type { Logger, PeerId, Stream } from '@libp2p/interface'

/** Confirmed mode: the last sequence number the application took from a sender, per epoch. */
export interface Receipt {
  epoch: string
  seq: number
}

export interface InboundOptions {
  maxMessageSize: number
  confirmed: boolean
  handoverTimeout: number
  maxInboundMessages: number
  maxInboundBytes: number
  ackDelay: number
}

export interface InboundHost<T> {
  readonly codec: Codec<T>
  readonly log: Logger
  /** A decoded message, in order. */
  deliver(lane: InboundLane<T>, value: T, seq: number, bytes: number): void
  /** A stream from this peer was reset because of what it sent. */
  error(lane: InboundLane<T>, err: Error): void
  /** Confirmed mode: the persisted receipt for this peer, if any. */
  loadReceipt(peer: PeerId): Receipt | undefined
  saveReceipt(peer: PeerId, receipt: Receipt): void
  /** The lane has no streams left and nothing buffered. */
  idle(lane: InboundLane<T>): void
}

/** yamux's largest stream receive window. */
const MAX_STREAM_WINDOW = 16 * 1024 * 1024

class StreamReader<T> {
  readonly stream: Stream
  private readonly lane: InboundLane<T>
  private readonly decoder: FrameDecoder
  /** Confirmed mode: whether the hello frame has been read, and the sender's epoch it named. */
  hello = false
  epoch?: string
  lastDataAt = Date.now()
  ended = false
  /** Why the stream closed, while what it had buffered is still being read. */
  private closeError?: Error
  private readonly onMessage: (evt: Event) => void
  private readonly onFrame: (payload: Uint8Array) => boolean
  /** The stream ended while decoded-but-undelivered bytes were held: finish once they are. */
  private endPending = false
  private readonly onEnd: () => void
  private readonly onClose: (evt: Event) => void

  constructor (stream: Stream, lane: InboundLane<T>, maxLength: number) {
    this.stream = stream
    this.lane = lane
    this.decoder = new FrameDecoder(maxLength)
    this.onMessage = (evt) => { this.read((evt as Event & { data: Uint8Array }).data) }
    // false when the lane is full: the decoder holds the rest until the application catches up
    this.onFrame = (payload) => lane.frame(this, payload)
    this.onEnd = () => { this.finish(this.closeError) }
    this.onClose = (evt) => { this.closed((evt as Event & { error?: Error }).error) }
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('end', this.onEnd)
    stream.addEventListener('close', this.onClose)
  }

  private read (data: Uint8Array): void {
    this.lastDataAt = Date.now()
    try {
      this.decoder.push(data, this.onFrame)
    } catch (err: any) {
      this.lane.reject(this, err)
    }
  }

  /** The lane has room again: decode what was held back. */
  drainHeld (): void {
    if (!this.decoder.holding) {
      return
    }
    try {
      this.decoder.resume(this.onFrame)
    } catch (err: any) {
      this.lane.reject(this, err)
      return
    }
    if (!this.decoder.holding && this.endPending) {
      this.finish(this.closeError)
    }
  }

  /**
   * The stream closed. Whatever it had already received is still read: a
   * paused stream (the application is behind, or the stream waits for an
   * older one) keeps its data in the read buffer, and its 'end' comes once
   * that is read. Only a stream with nothing buffered (or aborted here,
   * which discards the buffer) ends now.
   */
  private closed (error?: Error): void {
    if (this.ended) {
      return
    }
    if ((this.stream.readBufferLength > 0 || this.decoder.holding) && !(error instanceof StreamBufferError) && this.stream.status !== 'aborted') {
      this.closeError = error
      return
    }
    this.finish(error)
  }

  /** Stop listening (the lane no longer reads this stream). */
  detach (): void {
    this.ended = true
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('end', this.onEnd)
    this.stream.removeEventListener('close', this.onClose)
  }

  /** Everything the remote sent was read (or the stream failed). */
  private finish (error?: Error): void {
    if (this.ended) {
      return
    }
    if (this.decoder.holding && !(error instanceof StreamBufferError) && this.stream.status !== 'aborted') {
      // frames already received wait for room in the lane: end after them
      this.closeError = error
      this.endPending = true
      return
    }
    this.detach()
    if (error == null && this.decoder.midFrame) {
      this.lane.reject(this, new TruncatedFrameError('Stream ended in the middle of a frame'))
      return
    }
    if (error instanceof StreamBufferError) {
      // the sender ignored our pause past the read buffer limit (transports without flow control)
      this.lane.overflowed(new InboundOverflowError(error.message))
    }
    this.lane.streamEnded(this)
  }
}

/**
 * Confirmed mode: what the application takes counts towards the sequence
 * space (epoch) its message came in; one that a newer epoch replaced (the
 * sender restarted without its state) is never acknowledged in the new one.
 */
class EpochSource implements InboxSource {
  constructor (private readonly lane: InboundLane<any>, readonly gen: number) {}
  taken (seq: number, bytes: number): void {
    this.lane.taken(seq, bytes, this.gen)
  }
}

export class InboundLane<T> implements InboxSource {
  readonly peer: PeerId
  private readonly host: InboundHost<T>
  private readonly opts: InboundOptions
  private readers: Array<StreamReader<T>> = []
  private handoverTimer?: ReturnType<typeof setInterval>
  /** Messages and bytes of this peer buffered for the application. */
  private buffered = 0
  private bufferedBytes = 0
  private full = false
  private stopped = false
  /** Confirmed mode: the sender's epoch, the last seq accepted, the last seq taken by the application. */
  private epoch?: string
  private accepted = 0
  private consumed = 0
  private acked = 0
  /** The sender may have missed our last ack (a new stream, a resend): say it again. */
  private reack = false
  /** Confirmed mode: counts epochs, so a message knows which one it belongs to. */
  private gen = 0
  /** Where delivered messages report being taken (the current epoch's). */
  source: InboxSource = new EpochSource(this, 0)
  private ackTimer?: ReturnType<typeof setTimeout>

  private readonly log: Logger

  constructor (peer: PeerId, host: InboundHost<T>, opts: InboundOptions) {
    this.peer = peer
    this.host = host
    this.opts = opts
    this.log = host.log.newScope(`from:${peer.toString().slice(-8)}`)
    if (opts.confirmed) {
      const receipt = host.loadReceipt(peer)
      if (receipt != null) {
        this.epoch = receipt.epoch
        this.accepted = this.consumed = this.acked = receipt.seq
      }
    }
  }

  /** Streams being read or waiting their turn. */
  get streams (): number {
    return this.readers.length
  }

  /** A new inbound stream from this peer. */
  add (stream: Stream): void {
    if (this.stopped) {
      stream.abort(new Error('Messenger stopped'))
      return
    }
    if (!this.opts.confirmed) {
      // nothing flows back in the default mode: close our writable end now
      stream.close().catch((err) => { this.log('could not close the writable end - %e', err) })
    }
    this.log.trace('stream %s (%d waiting)', stream.id, this.readers.length)
    // a paused stream buffers what the sender already had in flight: allow a
    // full yamux window (16 MiB) beyond the largest message before libp2p resets it
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, MAX_STREAM_WINDOW + this.opts.maxMessageSize * 2)
    const reader = new StreamReader(stream, this, this.opts.maxMessageSize + (this.opts.confirmed ? 8 : 0))
    this.readers.push(reader)
    if (this.readers.length > 1 || this.full) {
      pause(stream)
    }
    if (this.readers.length > 1 && this.handoverTimer == null) {
      this.handoverTimer = setInterval(() => { this.checkHandover() }, Math.max(250, this.opts.handoverTimeout / 4))
    }
  }

  /** The application took message `seq` (of epoch generation `gen`). */
  taken (seq: number, bytes: number, gen = this.gen): void {
    this.buffered--
    this.bufferedBytes -= bytes
    if (this.full && this.buffered <= this.opts.maxInboundMessages / 2 && this.bufferedBytes <= this.opts.maxInboundBytes / 2) {
      this.full = false
      this.activateNext()
    }
    if (this.opts.confirmed && gen === this.gen && seq > this.consumed) {
      this.consumed = seq
      if (this.epoch != null) {
        this.host.saveReceipt(this.peer, { epoch: this.epoch, seq })
      }
      this.scheduleAck()
    }
    if (this.readers.length === 0 && this.buffered === 0) {
      this.host.idle(this)
    }
  }

  /** Reset every stream and release timers. */
  stop (): void {
    this.stopped = true
    clearInterval(this.handoverTimer)
    clearTimeout(this.ackTimer)
    for (const reader of this.readers.splice(0)) {
      reader.detach()
      reader.stream.abort(new Error('Messenger stopped'))
    }
  }

  /** A reader's stream ended: everything it carried was read. */
  streamEnded (reader: StreamReader<T>): void {
    if (this.opts.confirmed && this.readers.includes(reader)) {
      this.sendAck(true)
      reader.stream.close().catch((err) => { this.log('could not close the stream - %e', err) })
    }
    this.remove(reader)
  }

  overflowed (err: Error): void {
    this.host.error(this, err)
  }

  /** Bad input: reset the stream, report, move on. */
  reject (reader: StreamReader<T>, err: Error): void {
    reader.detach()
    reader.stream.abort(err)
    this.remove(reader)
    this.host.error(this, err)
  }

  /** Forget a reader (once); the next one in line takes its turn. */
  private remove (reader: StreamReader<T>): void {
    const i = this.readers.indexOf(reader)
    if (i < 0) {
      return
    }
    this.readers.splice(i, 1)
    if (this.readers.length <= 1) {
      clearInterval(this.handoverTimer)
      this.handoverTimer = undefined
    }
    if (i === 0) {
      this.activateNext()
    }
    if (this.readers.length === 0 && this.buffered === 0) {
      this.host.idle(this)
    }
  }

  private activateNext (): void {
    const next = this.readers[0]
    if (next == null || this.full) {
      return
    }
    next.lastDataAt = Date.now()
    next.drainHeld()
    if (!this.full && this.readers[0] === next) {
      resume(next.stream)
    }
  }

  private checkHandover (): void {
    const active = this.readers[0]
    if (active == null || this.readers.length < 2) {
      clearInterval(this.handoverTimer)
      this.handoverTimer = undefined
      return
    }
    if (!this.full && Date.now() - active.lastDataAt > this.opts.handoverTimeout) {
      // the older stream went silent while a newer one waits: abandon it (and only it)
      this.log('stream %s silent for %d ms while a newer one waits: abandoning it', active.stream.id, this.opts.handoverTimeout)
      active.detach()
      active.stream.abort(new Error('Replaced by a newer stream from the same peer'))
      this.remove(active)
    }
  }

  private accept (payload: Uint8Array, seq: number): void {
    let value: T
    try {
      value = this.host.codec.decode(payload)
    } catch (err: any) {
      throw new MalformedMessageError(`Could not decode a message from ${this.peer.toString()}: ${errorMessage(err)}`, { cause: err })
    }
    this.buffered++
    this.bufferedBytes += payload.byteLength
    if (!this.full && (this.buffered >= this.opts.maxInboundMessages || this.bufferedBytes >= this.opts.maxInboundBytes)) {
      this.full = true
      for (const reader of this.readers) {
        pause(reader.stream)
      }
    }
    this.host.deliver(this, value, seq, payload.byteLength)
  }

  /** A frame read from `reader`'s stream. */
  /** A frame read from `reader`'s stream; returns false when the lane is full (stop decoding). */
  frame (reader: StreamReader<T>, payload: Uint8Array): boolean {
    if (this.opts.confirmed) {
      this.confirmedFrame(reader, payload)
    } else {
      this.accept(payload, 0)
    }
    return !this.full
  }

  private confirmedFrame (reader: StreamReader<T>, payload: Uint8Array): void {
    const { seq, body } = readSequenced(payload)
    if (seq === HELLO_SEQ) {
      const epoch = helloEpoch(body)
      if (epoch !== this.epoch) {
        // a new sequence space: the sender starts over (messages of the old one still buffered
        // for the application count towards nothing now)
        this.epoch = epoch
        this.accepted = this.consumed = this.acked = 0
        this.gen++
        this.source = new EpochSource(this, this.gen)
      }
      reader.hello = true
      reader.epoch = epoch
      // a new stream: tell the sender where we are, it may resend less
      this.reack = true
      this.scheduleAck()
      return
    }
    if (!reader.hello) {
      throw new MalformedMessageError('Confirmed stream did not start with a hello frame')
    }
    if (seq <= this.accepted) {
      // a resend of something we already have: the sender missed an ack
      if (seq <= this.consumed) {
        this.reack = true
        this.scheduleAck()
      }
      return
    }
    this.accepted = seq
    this.accept(body, seq)
  }

  private scheduleAck (): void {
    if (this.consumed - this.acked >= 64) {
      this.sendAck(false)
      return
    }
    if (this.ackTimer == null) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined
        this.sendAck(false)
      }, this.opts.ackDelay)
    }
  }

  private sendAck (force: boolean): void {
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    if (!force && !this.reack && this.consumed === this.acked) {
      return
    }
    // acks go back on the newest stream of the same epoch that can still carry them
    for (let i = this.readers.length - 1; i >= 0; i--) {
      const stream = this.readers[i].stream
      if (this.readers[i].epoch === this.epoch && stream.writeStatus === 'writable' && stream.status === 'open') {
        try {
          stream.send(ackFrame(this.consumed))
          this.acked = this.consumed
          this.reack = false
        } catch (err) {
          this.log('could not send an acknowledgement - %e', err)
        }
        return
      }
    }
  }
}

function pause (stream: Stream): void {
  if (stream.readStatus === 'readable') {
    stream.pause()
  }
}

function resume (stream: Stream): void {
  if (stream.readStatus === 'paused') {
    stream.resume()
  }
}
