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
  // each frame is bufs[i][starts[i] .. ends[i]): no view object per frame
  private bufs: Array<Uint8Array | undefined>
  /** For a large frame kept by reference: its prefix, in its own small buffer. */
  private heads: Array<Uint8Array | undefined>
  private starts: number[]
  private ends: number[]
  private mask: number
  private head = 0
  /** Number of frames held. */
  length = 0
  /** Sum of the frames' byte lengths. */
  bytes = 0
  /** Sequence number of the oldest frame held (of the next one pushed, when empty). */
  firstSeq: number
  /**
   * Numbers skipped after frame `at` (from the front): messages lost before a
   * restart and reported, whose numbers are never handed out again. Almost
   * always empty.
   */
  private jumps: Array<{ at: number, by: number }> = []
  private skipped = 0
  /** Where in the buffer returned by the last `reserve()` the frame starts. */
  reservedAt = 0

  private slab?: Uint8Array
  private slabPos = 0
  private reservedBuf?: Uint8Array

  constructor (firstSeq = 1, capacity = 16) {
    this.bufs = new Array(capacity)
    this.heads = new Array(capacity)
    this.starts = new Array(capacity).fill(0)
    this.ends = new Array(capacity).fill(0)
    this.mask = capacity - 1
    this.firstSeq = firstSeq
  }

  /** Sequence number the next pushed frame gets. */
  get nextSeq (): number {
    return this.firstSeq + this.length + this.skipped
  }

  /** Sequence number of the i-th frame from the front. */
  seqAt (i: number): number {
    let seq = this.firstSeq + i
    for (const j of this.jumps) {
      if (j.at <= i) seq += j.by
    }
    return seq
  }

  /** Skip `n` sequence numbers: the next frame pushed gets `nextSeq + n`. */
  skip (n: number): void {
    if (n <= 0) {
      return
    }
    if (this.length === 0) {
      this.firstSeq += n
      return
    }
    const last = this.jumps[this.jumps.length - 1]
    if (last != null && last.at === this.length) {
      last.by += n
    } else {
      this.jumps.push({ at: this.length, by: n })
    }
    this.skipped += n
  }

  /**
   * Call `fn` with each run of consecutive sequence numbers among frames
   * [from, to): one call unless the range spans skipped numbers.
   */
  ranges (from: number, to: number, fn: (first: number, last: number) => void): void {
    if (from >= to) {
      return
    }
    if (this.jumps.length === 0) {
      fn(this.firstSeq + from, this.firstSeq + to - 1)
      return
    }
    let start = from
    for (const j of this.jumps) {
      if (j.at > from && j.at < to) {
        fn(this.seqAt(start), this.seqAt(j.at - 1))
        start = j.at
      }
    }
    fn(this.seqAt(start), this.seqAt(to - 1))
  }

  /**
   * Reserve `size` contiguous bytes for the next frame: write the frame into
   * the returned buffer at `reservedAt`, then call `commit(size)`. Small frames
   * share a slab; a large one gets its own buffer.
   */
  reserve (size: number): Uint8Array {
    if (size > SLAB_SIZE / 4) {
      this.reservedBuf = new Uint8Array(size)
      this.reservedAt = 0
      return this.reservedBuf
    }
    if (this.slab == null || this.slabPos + size > this.slab.byteLength) {
      this.slab = new Uint8Array(SLAB_SIZE)
      this.slabPos = 0
    }
    this.reservedBuf = this.slab
    this.reservedAt = this.slabPos
    this.slabPos += size
    return this.slab
  }

  /** Append the frame written into the last reservation; returns its sequence number. */
  commit (size: number): number {
    return this.append(this.reservedBuf as Uint8Array, this.reservedAt, this.reservedAt + size)
  }

  /** Forget the current slab (frames already queued keep their bytes). */
  releaseSlab (): void {
    this.slab = undefined
    this.slabPos = 0
    this.reservedBuf = undefined
  }

  /** Append a whole frame; returns its sequence number. */
  push (frame: Uint8Array): number {
    return this.append(frame, 0, frame.byteLength)
  }

  /**
   * Append a frame made of a prefix and a payload kept by reference (large
   * payloads are not copied); returns its sequence number.
   */
  pushParts (head: Uint8Array, payload: Uint8Array): number {
    const seq = this.append(payload, 0, payload.byteLength)
    this.heads[(this.head + this.length - 1) & this.mask] = head
    this.bytes += head.byteLength
    return seq
  }

  /** Byte length of the i-th frame from the front. */
  sizeAt (i: number): number {
    const idx = (this.head + i) & this.mask
    return this.ends[idx] - this.starts[idx] + (this.heads[idx]?.byteLength ?? 0)
  }

  /** The i-th frame from the front (a new view: not for the hot path). */
  at (i: number): Uint8Array {
    const idx = (this.head + i) & this.mask
    const body = (this.bufs[idx] as Uint8Array).subarray(this.starts[idx], this.ends[idx])
    const head = this.heads[idx]
    if (head == null) {
      return body
    }
    const out = new Uint8Array(head.byteLength + body.byteLength)
    out.set(head, 0)
    out.set(body, head.byteLength)
    return out
  }

  /** Remove the oldest frame; returns its byte length (0 when empty). */
  shift (): number {
    if (this.length === 0) {
      return 0
    }
    const size = this.ends[this.head] - this.starts[this.head] + (this.heads[this.head]?.byteLength ?? 0)
    this.bufs[this.head] = undefined
    this.heads[this.head] = undefined
    this.head = (this.head + 1) & this.mask
    this.length--
    this.bytes -= size
    this.firstSeq++
    if (this.jumps.length > 0) {
      for (const j of this.jumps) {
        j.at--
      }
      while (this.jumps.length > 0 && this.jumps[0].at <= 0) {
        const j = this.jumps.shift() as { at: number, by: number }
        this.firstSeq += j.by
        this.skipped -= j.by
      }
    }
    return size
  }

  /** Drop every frame; sequence numbers continue after the last one. */
  clear (): void {
    this.firstSeq = this.nextSeq
    this.jumps = []
    this.skipped = 0
    this.bufs = new Array(16)
    this.heads = new Array(16)
    this.starts = new Array(16).fill(0)
    this.ends = new Array(16).fill(0)
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
    let buf: Uint8Array | undefined
    let runStart = 0
    let runEnd = 0
    for (let i = from; i < to; i++) {
      const idx = (this.head + i) & this.mask
      const b = this.bufs[idx] as Uint8Array
      const start = this.starts[idx]
      const head = this.heads[idx]
      if (head != null) {
        if (buf != null) {
          out.push(runStart === 0 && runEnd === buf.byteLength ? buf : buf.subarray(runStart, runEnd))
        }
        out.push(head)
        buf = b
        runStart = start
        runEnd = this.ends[idx]
        continue
      }
      if (b === buf && start === runEnd) {
        runEnd = this.ends[idx]
        continue
      }
      if (buf != null) {
        out.push(runStart === 0 && runEnd === buf.byteLength ? buf : buf.subarray(runStart, runEnd))
      }
      buf = b
      runStart = start
      runEnd = this.ends[idx]
    }
    if (buf != null) {
      out.push(runStart === 0 && runEnd === buf.byteLength ? buf : buf.subarray(runStart, runEnd))
    }
  }

  private append (buf: Uint8Array, start: number, end: number): number {
    if (this.length === this.bufs.length) {
      this.grow()
    }
    const idx = (this.head + this.length) & this.mask
    this.bufs[idx] = buf
    this.starts[idx] = start
    this.ends[idx] = end
    this.length++
    this.bytes += end - start
    return this.nextSeq - 1
  }

  private grow (): void {
    const cap = this.bufs.length * 2
    const bufs = new Array<Uint8Array | undefined>(cap)
    const heads = new Array<Uint8Array | undefined>(cap)
    const starts = new Array<number>(cap).fill(0)
    const ends = new Array<number>(cap).fill(0)
    for (let i = 0; i < this.length; i++) {
      const idx = (this.head + i) & this.mask
      bufs[i] = this.bufs[idx]
      heads[i] = this.heads[idx]
      starts[i] = this.starts[idx]
      ends[i] = this.ends[idx]
    }
    this.bufs = bufs
    this.heads = heads
    this.starts = starts
    this.ends = ends
    this.mask = cap - 1
    this.head = 0
  }
}
