/**
 * The per-peer, per-channel outbound buffer: a FIFO of encoded frames with
 * consecutive sequence numbers, plus the slab the next small frames are
 * encoded into.
 *
 * Frames encoded back to back in one slab are sent as a single view of that
 * slab: a batch of hundreds of small messages costs one `stream.send()` and no
 * copy. A slab is never written twice: once a frame is handed to a stream it
 * belongs to the transport, and the slab is dropped when full.
 */
import { SLAB_SIZE } from './constants.js'

export class FrameQueue {
  private items: Array<Uint8Array | undefined>
  private mask: number
  private head = 0
  /** Number of frames held. */
  length = 0
  /** Sum of the frames' byte lengths. */
  bytes = 0
  /** Sequence number of the oldest frame held (of the next one pushed, when empty). */
  firstSeq: number

  private slab?: Uint8Array
  private slabPos = 0

  constructor (firstSeq = 1, capacity = 16) {
    this.items = new Array(capacity)
    this.mask = capacity - 1
    this.firstSeq = firstSeq
  }

  /** Sequence number the next pushed frame gets. */
  get nextSeq (): number {
    return this.firstSeq + this.length
  }

  /**
   * Reserve `size` contiguous bytes for a frame; write it, then `push` the
   * returned view. Small frames share a slab; a large one gets its own buffer.
   */
  reserve (size: number): Uint8Array {
    if (size > SLAB_SIZE / 4) {
      return new Uint8Array(size)
    }
    if (this.slab == null || this.slabPos + size > this.slab.byteLength) {
      this.slab = new Uint8Array(SLAB_SIZE)
      this.slabPos = 0
    }
    const view = this.slab.subarray(this.slabPos, this.slabPos + size)
    this.slabPos += size
    return view
  }

  /** Forget the current slab (frames already pushed keep their views). */
  releaseSlab (): void {
    this.slab = undefined
    this.slabPos = 0
  }

  /** Append a frame; returns its sequence number. */
  push (frame: Uint8Array): number {
    if (this.length === this.items.length) {
      this.grow()
    }
    this.items[(this.head + this.length) & this.mask] = frame
    this.length++
    this.bytes += frame.byteLength
    return this.firstSeq + this.length - 1
  }

  /** The i-th frame from the front. */
  at (i: number): Uint8Array {
    return this.items[(this.head + i) & this.mask] as Uint8Array
  }

  /** Remove the oldest frame. */
  shift (): Uint8Array | undefined {
    if (this.length === 0) {
      return undefined
    }
    const frame = this.items[this.head] as Uint8Array
    this.items[this.head] = undefined
    this.head = (this.head + 1) & this.mask
    this.length--
    this.bytes -= frame.byteLength
    this.firstSeq++
    return frame
  }

  /** Remove the newest frame (the sequence number is not reused). */
  pop (): Uint8Array | undefined {
    if (this.length === 0) {
      return undefined
    }
    const idx = (this.head + this.length - 1) & this.mask
    const frame = this.items[idx] as Uint8Array
    this.items[idx] = undefined
    this.length--
    this.bytes -= frame.byteLength
    return frame
  }

  /** Drop every frame; sequence numbers continue after the last one. */
  clear (): void {
    this.firstSeq += this.length
    this.items = new Array(16)
    this.mask = 15
    this.head = 0
    this.length = 0
    this.bytes = 0
    this.releaseSlab()
  }

  /**
   * Views that cover frames [from, to) with as few buffers as possible:
   * adjacent frames of one slab become one view.
   */
  runs (from: number, to: number, out: Uint8Array[]): void {
    let start: Uint8Array | undefined
    let runEnd = 0
    let runLength = 0
    for (let i = from; i < to; i++) {
      const f = this.at(i)
      if (start != null && f.buffer === start.buffer && f.byteOffset === runEnd) {
        runEnd += f.byteLength
        runLength += f.byteLength
        continue
      }
      if (start != null) {
        out.push(runLength === start.byteLength ? start : new Uint8Array(start.buffer, start.byteOffset, runLength))
      }
      start = f
      runEnd = f.byteOffset + f.byteLength
      runLength = f.byteLength
    }
    if (start != null) {
      out.push(runLength === start.byteLength ? start : new Uint8Array(start.buffer, start.byteOffset, runLength))
    }
  }

  private grow (): void {
    const items = new Array<Uint8Array | undefined>(this.items.length * 2)
    for (let i = 0; i < this.length; i++) {
      items[i] = this.items[(this.head + i) & this.mask]
    }
    this.items = items
    this.mask = items.length - 1
    this.head = 0
  }
}
