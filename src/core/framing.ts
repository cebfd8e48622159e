/**
 * The wire format: each message is an unsigned-varint length prefix followed by
 * that many bytes (the framing of go-libp2p-messenger and of `lpStream` in
 * `@libp2p/utils`). Nothing else is on the wire in the default mode.
 *
 * Encoding uses `uint8-varint`. Decoding is done here, incrementally, because
 * the reader must reject a bad prefix the moment it sees it: a varint longer
 * than the largest allowed length needs, a non-minimal varint, or a length
 * above the limit. (`LengthPrefixedDecoder` from `@libp2p/utils` keeps
 * buffering on an over-long varint until its 4 MiB buffer limit, and allocates
 * a list per frame.) The decoder never allocates on the strength of a remote
 * length: a frame split across chunks is assembled from the bytes that
 * actually arrived.
 */
import { encodeUint8Array, encodingLength } from 'uint8-varint'
import { FrameTooLargeError, InvalidFrameError } from '../errors.js'
import type { Uint8ArrayList } from 'uint8arraylist'

export { encodingLength as varintLength }

/** Write `value` as an unsigned varint at `buf[offset]`; returns the offset after it. */
export function writeVarint (value: number, buf: Uint8Array, offset: number): number {
  encodeUint8Array(value, buf, offset)
  return offset + encodingLength(value)
}

/** A whole frame (prefix and payload) for `payload`, in a new buffer. */
export function frame (payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(encodingLength(payload.byteLength) + payload.byteLength)
  out.set(payload, writeVarint(payload.byteLength, out, 0))
  return out
}

const EMPTY = new Uint8Array(0)

/** A read position, advanced by `readVarint`. */
export interface Cursor {
  pos: number
}

/**
 * Read the unsigned varint at `buf[cursor.pos]` and move the cursor past it.
 * It must be minimal and at most `maxBytes` long, else `InvalidFrameError`;
 * returns -1 (cursor unmoved) when `buf` ends inside it.
 */
export function readVarint (buf: Uint8Array, cursor: Cursor, maxBytes: number): number {
  let value = 0
  let i = 0
  for (let pos = cursor.pos; pos < buf.byteLength; pos++, i++) {
    const b = buf[pos]
    value += (b & 0x7f) * 2 ** (7 * i)
    if (b < 0x80) {
      if (b === 0 && i > 0) {
        throw new InvalidFrameError('Varint is not minimal')
      }
      cursor.pos = pos + 1
      return value
    }
    if (i + 1 >= maxBytes) {
      throw new InvalidFrameError(`Varint longer than ${maxBytes} bytes`)
    }
  }
  return -1
}

/**
 * The message bytes of a frame this SDK built: after the length prefix and,
 * in confirmed mode, the sequence number.
 */
export function framePayload (frame: Uint8Array, confirmed: boolean): Uint8Array {
  const cursor = { pos: 0 }
  readVarint(frame, cursor, 8)
  if (confirmed) {
    readVarint(frame, cursor, 8)
  }
  return frame.subarray(cursor.pos)
}

/**
 * Incremental decoder for varint-length-prefixed frames.
 *
 * ```ts
 * const decoder = new FrameDecoder(1024 * 1024)
 * stream.addEventListener('message', (evt) => decoder.push(evt.data, (frame) => handle(frame)))
 * ```
 */
export class FrameDecoder {
  private readonly maxLength: number
  private readonly maxPrefixBytes: number
  /** bytes of the prefix read so far (0 = between frames) */
  private prefixBytes = 0
  private length = 0
  /** -1 while reading a prefix, else bytes still missing from the current payload */
  private missing = -1
  private parts: Uint8Array[] = []

  constructor (maxLength: number) {
    this.maxLength = maxLength
    this.maxPrefixBytes = encodingLength(maxLength)
  }

  /** Bytes received but not decoded yet, because a frame handler asked to stop. */
  private held: Uint8Array[] = []
  private stopped = false

  /** True when the decoder holds part of a frame (a stream ending now is truncated). */
  get midFrame (): boolean {
    return this.prefixBytes > 0 || this.missing >= 0 || this.held.length > 0
  }

  /** True while received bytes wait to be decoded (see `resume`). */
  get holding (): boolean {
    return this.held.length > 0
  }

  /**
   * Feed received bytes; `onFrame` is called for each complete frame, in order.
   * The frame may be a view into `data`. Throws `FrameTooLargeError` or
   * `InvalidFrameError` as soon as a prefix is known to be bad. When `onFrame`
   * returns `false`, decoding stops after that frame and the remaining bytes
   * are held until `resume()`.
   */
  push (data: Uint8Array | Uint8ArrayList, onFrame: (frame: Uint8Array) => boolean | void): void {
    if (data instanceof Uint8Array) {
      this.held.push(data)
    } else {
      for (const chunk of data) {
        this.held.push(chunk)
      }
    }
    if (!this.stopped) {
      this.resume(onFrame)
    }
  }

  /** Decode what is held, until it is all decoded or `onFrame` returns `false` again. */
  resume (onFrame: (frame: Uint8Array) => boolean | void): void {
    this.stopped = false
    while (this.held.length > 0) {
      const chunk = this.held[0]
      const used = this.pushChunk(chunk, onFrame)
      if (used < chunk.byteLength) {
        this.held[0] = chunk.subarray(used)
        this.stopped = true
        return
      }
      this.held.shift()
    }
  }

  /** Decode from `chunk`; returns how many bytes were consumed (all, unless `onFrame` asked to stop). */
  private pushChunk (chunk: Uint8Array, onFrame: (frame: Uint8Array) => boolean | void): number {
    if (chunk.constructor !== Uint8Array) {
      // Node's Buffer: hand out plain Uint8Array views everywhere
      chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    }
    let pos = 0
    const end = chunk.byteLength
    while (pos < end) {
      if (this.missing < 0) {
        // reading the varint prefix, possibly across chunks
        const b = chunk[pos++]
        this.length += (b & 0x7f) * 2 ** (7 * this.prefixBytes)
        this.prefixBytes++
        if ((b & 0x80) !== 0) {
          if (this.prefixBytes >= this.maxPrefixBytes) {
            throw new InvalidFrameError(`Length prefix longer than ${this.maxPrefixBytes} bytes (limit ${this.maxLength} bytes)`)
          }
          continue
        }
        if (b === 0 && this.prefixBytes > 1) {
          throw new InvalidFrameError('Length prefix is not a minimal varint')
        }
        if (this.length > this.maxLength) {
          throw new FrameTooLargeError(this.length, this.maxLength)
        }
        const length = this.length
        this.prefixBytes = 0
        this.length = 0
        if (length === 0) {
          if (onFrame(EMPTY) === false) {
            return pos
          }
          continue
        }
        if (end - pos >= length) {
          // the whole payload is in this chunk: hand out a view, no copy
          const payload = chunk.subarray(pos, pos + length)
          pos += length
          if (onFrame(payload) === false) {
            return pos
          }
          continue
        }
        this.missing = length
        this.length = length
      }
      // assembling a payload split across chunks
      const take = Math.min(this.missing, end - pos)
      this.parts.push(chunk.subarray(pos, pos + take))
      pos += take
      this.missing -= take
      if (this.missing === 0) {
        const payload = new Uint8Array(this.length)
        let offset = 0
        for (const part of this.parts) {
          payload.set(part, offset)
          offset += part.byteLength
        }
        this.parts = []
        this.missing = -1
        this.length = 0
        if (onFrame(payload) === false) {
          return pos
        }
      }
    }
    return end
  }
}
