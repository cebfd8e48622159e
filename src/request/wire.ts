/**
 * The request/response wire format, shared by both modes.
 *
 * Every frame is an unsigned-varint length prefix and a body:
 *
 * ```
 * <varint n> <kind: 1 byte> <varint id> <n - 1 - len(id) bytes: payload>
 * ```
 *
 * - `REQUEST` (0, caller → handler): the request codec's encoding.
 * - `CANCEL` (1, caller → handler): empty; the caller gave up on request `id`.
 * - `RESPONSE` (2, handler → caller): the response codec's encoding.
 * - `ERROR` (3, handler → caller): `<varint c> <c bytes: code, UTF-8> <message, UTF-8>`.
 *
 * The reader here is incremental and, like `FrameDecoder`, never allocates on
 * the strength of a remote length: a bad prefix or header is rejected as soon
 * as it is seen, and a payload over the limit for its kind is skipped unread
 * (reported with its id, so only that request fails; the stream goes on).
 */
import { SLAB_SIZE } from '../core/constants.js'
import { INLINE_PAYLOAD, MAX_ERROR_CODE_LENGTH, MAX_ERROR_MESSAGE_LENGTH, MAX_ID_BYTES, MAX_PREFIX_BYTES, STREAM_HIGH_WATER } from './constants.js'
import { InvalidFrameError, errorMessage, withCause } from '../errors.js'
import { ProtocolError, RemoteError, RequestTimeoutError, TooManyRequestsError } from './errors.js'
import { readVarint, varintLength, writeVarint } from '../core/framing.js'
import { writable } from '../core/stream-writable.js'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'

/** Frame kinds (the first byte of a frame's body). */
export const REQUEST = 0
export const CANCEL = 1
export const RESPONSE = 2
export const ERROR = 3

const KIND_NAMES = ['REQUEST', 'CANCEL', 'RESPONSE', 'ERROR']

/** Error codes with a meaning of their own on the wire. */
export const ERR_TOO_MANY_REQUESTS = 'ERR_TOO_MANY_REQUESTS'
export const ERR_TIMEOUT = 'ERR_TIMEOUT'
export const ERR_REQUEST_TOO_LARGE = 'ERR_REQUEST_TOO_LARGE'
export const ERR_RESPONSE_TOO_LARGE = 'ERR_RESPONSE_TOO_LARGE'
export const ERR_MALFORMED_REQUEST = 'ERR_MALFORMED_REQUEST'
export const ERR_ENCODE = 'ERR_ENCODE'
export const ERR_REMOTE = 'ERR_REMOTE'

const EMPTY = new Uint8Array(0)
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** The payload of an ERROR frame. */
export function encodeError (code: string, message: string): Uint8Array {
  if (code.length === 0 || code.length > MAX_ERROR_CODE_LENGTH) {
    code = ERR_REMOTE
  }
  if (message.length > MAX_ERROR_MESSAGE_LENGTH) {
    message = `${message.slice(0, MAX_ERROR_MESSAGE_LENGTH - 1)}…`
  }
  const c = encoder.encode(code)
  const m = encoder.encode(message)
  const out = new Uint8Array(varintLength(c.byteLength) + c.byteLength + m.byteLength)
  const offset = writeVarint(c.byteLength, out, 0)
  out.set(c, offset)
  out.set(m, offset + c.byteLength)
  return out
}

/** Code and message of an ERROR frame's payload; throws `ProtocolError` when it is not one. */
function decodeError (payload: Uint8Array): { code: string, message: string } {
  try {
    const cursor = { pos: 0 }
    const length = readVarint(payload, cursor, 2)
    const start = cursor.pos
    if (length <= 0 || start + length > payload.byteLength) {
      throw new Error('no code')
    }
    return { code: decoder.decode(payload.subarray(start, start + length)), message: decoder.decode(payload.subarray(start + length)) }
  } catch (err: any) {
    throw withCause(new ProtocolError(`Malformed ERROR frame: ${err?.message ?? err}`), err)
  }
}

/** The caller's error for an ERROR frame's payload. */
export function remoteError (payload: Uint8Array): Error {
  const { code, message } = decodeError(payload)
  if (code === ERR_TOO_MANY_REQUESTS) {
    return new TooManyRequestsError(message)
  }
  if (code === ERR_TIMEOUT) {
    return new RequestTimeoutError(message)
  }
  return new RemoteError(message, code)
}

/** What a reader reports. */
export interface FrameSink {
  /** A whole frame. `payload` may be a view into received data. May throw to reject the stream. */
  frame(kind: number, id: number, payload: Uint8Array): void
  /** A frame whose payload is over the limit for its kind: its bytes are skipped unread. May throw. */
  oversized(kind: number, id: number, size: number, limit: number): void
}

const PREFIX = 0
const KIND = 1
const ID = 2
const PAYLOAD = 3
const SKIP = 4

/**
 * Incremental reader of request/response frames.
 *
 * `limits[kind]` is the largest payload accepted for that kind, or -1 when
 * this side never receives it (it is then a protocol error).
 */
export class RequestFrameReader {
  private readonly limits: readonly number[]
  private readonly sink: FrameSink
  private state = PREFIX
  /** the varint being read (length prefix or request id), and its bytes so far */
  private value = 0
  private bytes = 0
  /** body bytes not read yet */
  private left = 0
  private kind = 0
  private id = 0
  /** size of the payload being assembled */
  private length = 0
  private parts: Uint8Array[] = []
  private stopped = false

  constructor (limits: readonly number[], sink: FrameSink) {
    this.limits = limits
    this.sink = sink
  }

  /** True when part of a frame has been read (a stream ending now is truncated). */
  get midFrame (): boolean {
    return this.state !== PREFIX || this.bytes > 0
  }

  /** Ignore everything from now on. */
  stop (): void {
    this.stopped = true
    this.parts = []
  }

  /**
   * Feed received bytes. Throws `InvalidFrameError` for a bad length prefix and
   * `ProtocolError` for a bad header, as soon as it is seen; whatever the sink
   * throws passes through.
   */
  push (data: Uint8Array | Uint8ArrayList): void {
    if (data instanceof Uint8Array) {
      this.chunk(data)
    } else {
      for (const chunk of data) {
        if (this.stopped) {
          return
        }
        this.chunk(chunk)
      }
    }
  }

  /** Add byte `b` to the varint being read; true once it is complete (minimal, at most `maxBytes` long). */
  private varint (b: number, maxBytes: number, bad: (message: string) => Error): boolean {
    this.value += (b & 0x7f) * 2 ** (7 * this.bytes++)
    if ((b & 0x80) !== 0) {
      if (this.bytes >= maxBytes) {
        throw bad(`longer than ${maxBytes} bytes`)
      }
      return false
    }
    if (b === 0 && this.bytes > 1) {
      throw bad('is not a minimal varint')
    }
    this.bytes = 0
    return true
  }

  private chunk (chunk: Uint8Array): void {
    if (chunk.constructor !== Uint8Array) {
      // Node's Buffer: hand out plain Uint8Array views everywhere
      chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    }
    let pos = 0
    const end = chunk.byteLength
    while (pos < end && !this.stopped) {
      switch (this.state) {
        case PREFIX: {
          if (!this.varint(chunk[pos++], MAX_PREFIX_BYTES, (m) => new InvalidFrameError(`Length prefix ${m}`))) {
            break
          }
          if (this.value < 2) {
            throw new ProtocolError(`Frame of ${this.value} bytes is too short for its header`)
          }
          this.left = this.value
          this.value = 0
          this.state = KIND
          break
        }
        case KIND: {
          const kind = chunk[pos++]
          this.left--
          if (kind >= this.limits.length || this.limits[kind] < 0) {
            throw new ProtocolError(`Unexpected ${KIND_NAMES[kind] ?? `unknown (${kind})`} frame`)
          }
          this.kind = kind
          this.state = ID
          break
        }
        case ID: {
          this.left--
          if (!this.varint(chunk[pos++], MAX_ID_BYTES, (m) => new ProtocolError(`Request id ${m}`))) {
            if (this.left === 0) {
              throw new ProtocolError('Request id longer than its frame')
            }
            break
          }
          this.id = this.value
          this.value = 0
          if (this.id > Number.MAX_SAFE_INTEGER) {
            throw new ProtocolError('Request id over 2^53 - 1')
          }
          const size = this.left
          const limit = this.limits[this.kind]
          if (size > limit) {
            this.state = size > 0 ? SKIP : PREFIX
            this.sink.oversized(this.kind, this.id, size, limit)
            break
          }
          if (size === 0) {
            this.state = PREFIX
            this.sink.frame(this.kind, this.id, EMPTY)
            break
          }
          if (end - pos >= size) {
            // the whole payload is in this chunk: hand out a view, no copy
            const payload = chunk.subarray(pos, pos + size)
            pos += size
            this.left = 0
            this.state = PREFIX
            this.sink.frame(this.kind, this.id, payload)
            break
          }
          this.length = size
          this.state = PAYLOAD
          break
        }
        case PAYLOAD: {
          const take = Math.min(this.left, end - pos)
          this.parts.push(chunk.subarray(pos, pos + take))
          pos += take
          this.left -= take
          if (this.left === 0) {
            const payload = new Uint8Array(this.length)
            let offset = 0
            for (const part of this.parts) {
              payload.set(part, offset)
              offset += part.byteLength
            }
            this.parts = []
            this.length = 0
            this.state = PREFIX
            this.sink.frame(this.kind, this.id, payload)
          }
          break
        }
        default: {
          // SKIP: discard an oversized payload as it arrives
          const take = Math.min(this.left, end - pos)
          pos += take
          this.left -= take
          if (this.left === 0) {
            this.state = PREFIX
          }
        }
      }
    }
  }
}

/**
 * One request stream, either side: frames come in through a reader and go out
 * through a writer, and the stream's events reach the owner as four cases:
 * garbage (or an end in the middle of a frame), the remote's end between
 * frames, the stream closing or being reset, and a failed write.
 */
export abstract class FrameStream implements FrameSink {
  readonly stream: Stream
  protected readonly reader: RequestFrameReader
  protected readonly writer: FrameWriter
  /** listeners removed, nothing more is read */
  protected closed = false
  private readonly onMessage = (evt: Event): void => {
    try {
      this.reader.push((evt as Event & { data: Uint8Array | Uint8ArrayList }).data)
    } catch (err: any) {
      this.garbage(err instanceof ProtocolError ? err : withCause(new ProtocolError(`Bad frame: ${errorMessage(err)}`), err))
    }
  }

  private readonly onEnd = (): void => {
    if (this.reader.midFrame) {
      this.garbage(new ProtocolError('The stream ended in the middle of a frame'))
    } else {
      this.ended()
    }
  }

  private readonly onClose = (evt: Event): void => {
    this.gone((evt as Event & { error?: Error }).error)
  }

  /** `limits[kind]`: as for `RequestFrameReader`. */
  constructor (stream: Stream, limits: readonly number[]) {
    this.stream = stream
    this.reader = new RequestFrameReader(limits, this)
    this.writer = new FrameWriter(stream, (err) => { this.writeFailed(err) })
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('end', this.onEnd)
    stream.addEventListener('close', this.onClose)
  }

  abstract frame (kind: number, id: number, payload: Uint8Array): void
  abstract oversized (kind: number, id: number, size: number, limit: number): void
  /** The remote sent something that is not a frame this side accepts. */
  protected abstract garbage (err: ProtocolError): void
  /** The remote closed its writing side between frames. */
  protected abstract ended (): void
  /** The stream closed; `error` when it was reset or its connection went away. */
  protected abstract gone (error?: Error): void
  protected abstract writeFailed (err: Error): void

  /** Stop reading and remove the listeners; false when that was done already. */
  protected detach (): boolean {
    if (this.closed) {
      return false
    }
    this.closed = true
    this.reader.stop()
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('end', this.onEnd)
    this.stream.removeEventListener('close', this.onClose)
    return true
  }
}

/**
 * Queues frames for one stream and hands them over in batches: every frame
 * written in the same tick goes out in one `stream.send()` (small payloads are
 * copied into one buffer, large ones are sent by reference), with a real wait
 * for room when the stream is full.
 */
class FrameWriter {
  private readonly stream: Stream
  private readonly onError: (err: Error) => void
  private slab = new Uint8Array(SLAB_SIZE)
  private start = 0
  private pos = 0
  private parts: Uint8Array[] = []
  private queued = 0
  private scheduled = false
  private writing = false
  private ending = false
  private dead = false
  private readonly flushTask: () => void
  /** Called when everything queued has been handed to the stream. */
  onFlushed?: () => void

  constructor (stream: Stream, onError: (err: Error) => void) {
    this.stream = stream
    this.onError = onError
    this.flushTask = () => { void this.flush() }
  }

  /** Bytes queued and not yet handed to the stream. */
  get backlog (): number {
    return this.queued
  }

  /** Queue one frame. */
  write (kind: number, id: number, payload: Uint8Array = EMPTY): void {
    if (this.dead || this.ending) {
      return
    }
    const idLength = varintLength(id)
    const body = 1 + idLength + payload.byteLength
    const head = varintLength(body) + 1 + idLength
    const inline = payload.byteLength <= INLINE_PAYLOAD
    const need = head + (inline ? payload.byteLength : 0)
    if (this.slab.byteLength - this.pos < need) {
      this.cut()
      this.slab = new Uint8Array(Math.max(SLAB_SIZE, need))
      this.start = this.pos = 0
    }
    const slab = this.slab
    let p = writeVarint(body, slab, this.pos)
    slab[p++] = kind
    p = writeVarint(id, slab, p)
    if (inline) {
      slab.set(payload, p)
      p += payload.byteLength
    }
    this.pos = p
    if (!inline) {
      this.cut()
      this.parts.push(payload)
    }
    this.queued += head + payload.byteLength
    this.schedule()
  }

  /** Hand over what is queued, then close the writing side of the stream. */
  end (): void {
    if (this.dead || this.ending) {
      return
    }
    this.ending = true
    this.schedule()
  }

  /** Drop everything queued and write nothing more. */
  discard (): void {
    this.dead = true
    this.parts = []
    this.queued = 0
    this.start = this.pos
  }

  private schedule (): void {
    if (!this.scheduled && !this.writing) {
      this.scheduled = true
      queueMicrotask(this.flushTask)
    }
  }

  private cut (): void {
    if (this.pos > this.start) {
      this.parts.push(this.slab.subarray(this.start, this.pos))
      this.start = this.pos
    }
  }

  private async flush (): Promise<void> {
    this.scheduled = false
    if (this.writing) {
      return
    }
    this.writing = true
    const stream = this.stream
    try {
      while (!this.dead && (this.queued > 0)) {
        if (stream.status !== 'open' || stream.writeStatus !== 'writable') {
          this.discard()
          return
        }
        if (stream.writableNeedsDrain || stream.writeBufferLength > STREAM_HIGH_WATER) {
          await writable(stream, STREAM_HIGH_WATER)
          continue
        }
        this.cut()
        const parts = this.parts
        this.parts = []
        this.queued = 0
        stream.send(parts.length === 1 ? parts[0] : new Uint8ArrayList(...parts))
      }
      if (!this.dead) {
        this.onFlushed?.()
      }
      if (this.ending && !this.dead) {
        this.dead = true
        stream.close().catch((err: Error) => { stream.abort(err) })
      }
    } catch (err: any) {
      if (!this.dead) {
        this.discard()
        this.onError(err)
      }
    } finally {
      this.writing = false
    }
    if (!this.dead && (this.queued > 0 || this.ending)) {
      this.schedule()
    }
  }
}
