import { describe, it, expect } from 'vitest'
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameDecoder, frame } from '../../src/core/framing.js'
import { bytes, string, json, FrameTooLargeError, InvalidFrameError } from '../../src/index.js'
import { FrameQueue } from '../../src/core/frame-queue.js'
import { utf8Length } from '../../src/core/codec.js'

function decodeAll (decoder: FrameDecoder, chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const c of chunks) decoder.push(c, f => { out.push(f.slice()) })
  return out
}

describe('FrameDecoder', () => {
  it('decodes frames split at every possible byte boundary', () => {
    const payloads = [new Uint8Array(0), new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(7), new Uint8Array(20_000).fill(9)]
    const wire = new Uint8Array(payloads.reduce((n, p) => n + frame(p).byteLength, 0))
    let off = 0
    for (const p of payloads) { const f = frame(p); wire.set(f, off); off += f.byteLength }
    for (const step of [1, 2, 3, 7, 128, 4096, wire.byteLength]) {
      const chunks: Uint8Array[] = []
      for (let i = 0; i < wire.byteLength; i += step) chunks.push(wire.subarray(i, i + step))
      const d = new FrameDecoder(1 << 20)
      expect(decodeAll(d, chunks)).toEqual(payloads)
      expect(d.midFrame).toBe(false)
    }
  })

  it('stops after a frame whose handler returns false, holds the rest, and resumes in order', () => {
    const wire = new Uint8ArrayList(...[1, 2, 3, 4, 5].map(n => frame(new Uint8Array(n).fill(n))))
    const d = new FrameDecoder(100)
    const out: number[] = []
    let budget = 2
    const take = (f: Uint8Array): boolean => { out.push(f[0]); return --budget > 0 }
    d.push(wire.subarray(), take)
    expect(out).toEqual([1, 2])
    expect(d.holding).toBe(true)
    expect(d.midFrame).toBe(true)
    d.push(frame(new Uint8Array([6])), take) // more arrives while stopped: held behind the rest
    expect(out).toEqual([1, 2])
    budget = 10
    d.resume(take)
    expect(out).toEqual([1, 2, 3, 4, 5, 6])
    expect(d.holding).toBe(false)
    expect(d.midFrame).toBe(false)
  })

  it('accepts a Uint8ArrayList', () => {
    const d = new FrameDecoder(100)
    const list = new Uint8ArrayList(frame(new Uint8Array([1])), frame(new Uint8Array([2, 2])))
    const out: number[] = []
    d.push(list, f => { out.push(f.byteLength) })
    expect(out).toEqual([1, 2])
  })

  it('rejects a length above the limit as soon as the prefix is read, before the payload', () => {
    const d = new FrameDecoder(1000)
    // 1001 = 0xe9 0x07: the error comes from the prefix alone
    expect(() => d.push(new Uint8Array([0xe9, 0x07]), () => {})).toThrow(FrameTooLargeError)
  })

  it('rejects a huge length prefix (4 GiB) without allocating', () => {
    const d = new FrameDecoder(1 << 20)
    expect(() => d.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), () => {})).toThrow(InvalidFrameError)
  })

  it('rejects an over-long varint at the first byte past what the limit needs', () => {
    const d = new FrameDecoder(1 << 20) // 3 varint bytes at most
    let err: unknown
    try { d.push(new Uint8Array([0x80, 0x80, 0x80]), () => {}) } catch (e) { err = e }
    expect(err).toBeInstanceOf(InvalidFrameError)
    // 11 continuation bytes, as random garbage might start
    expect(() => new FrameDecoder(1 << 20).push(new Uint8Array(11).fill(0xff), () => {})).toThrow(InvalidFrameError)
  })

  it('rejects a non-minimal varint', () => {
    expect(() => new FrameDecoder(1 << 20).push(new Uint8Array([0x81, 0x00]), () => {})).toThrow(InvalidFrameError)
  })

  it('reports a truncated frame through midFrame', () => {
    const d = new FrameDecoder(100)
    d.push(new Uint8Array([5, 1, 2]), () => {})
    expect(d.midFrame).toBe(true)
  })

  it('hands out views of the received chunk when a frame fits in it', () => {
    const wire = frame(new Uint8Array([4, 5, 6]))
    let got: Uint8Array | undefined
    new FrameDecoder(100).push(wire, f => { got = f })
    expect(got?.buffer).toBe(wire.buffer)
  })
})

describe('FrameQueue', () => {
  it('keeps FIFO order and consecutive sequence numbers across growth', () => {
    const q = new FrameQueue(5)
    for (let i = 0; i < 100; i++) expect(q.push(new Uint8Array([i]))).toBe(5 + i)
    for (let i = 0; i < 60; i++) { expect(q.at(0)[0]).toBe(i); expect(q.shift()).toBe(1) }
    for (let i = 100; i < 200; i++) q.push(new Uint8Array([i & 0xff]))
    expect(q.firstSeq).toBe(65)
    expect(q.length).toBe(140)
    expect(q.at(0)[0]).toBe(60)
  })

  it('coalesces frames reserved back to back in one slab into one view', () => {
    const q = new FrameQueue()
    for (let i = 0; i < 10; i++) {
      const buf = q.reserve(10)
      buf.fill(i, q.reservedAt, q.reservedAt + 10)
      q.commit(10)
    }
    const runs: Uint8Array[] = []
    q.runs(0, q.length, runs)
    expect(runs).toHaveLength(1)
    expect(runs[0].byteLength).toBe(100)
    expect(runs[0][95]).toBe(9)
  })

  it('does not coalesce frames from different buffers', () => {
    const q = new FrameQueue()
    q.push(new Uint8Array(3)); q.push(new Uint8Array(3))
    const runs: Uint8Array[] = []
    q.runs(0, 2, runs)
    expect(runs).toHaveLength(2)
  })
})

describe('codecs', () => {
  it('string: encodingLength matches TextEncoder for all kinds of text', () => {
    const samples = ['', 'abc', 'héllo', '日本語', '😀 emoji 👍🏽', 'lone \ud800 surrogate', 'x'.repeat(1000)]
    for (const s of samples) {
      expect(utf8Length(s)).toBe(new TextEncoder().encode(s).byteLength)
      const c = string()
      const buf = new Uint8Array(c.encodingLength!(s))
      expect(c.encodeInto!(s, buf, 0)).toBe(buf.byteLength)
      expect(c.decode(buf)).toBe(s.replace('\ud800', '\ufffd'))
    }
  })

  it('string: invalid UTF-8 throws', () => {
    expect(() => string().decode(new Uint8Array([0xff, 0xfe]))).toThrow(TypeError)
  })

  it('json and bytes round trip', () => {
    const j = json<{ a: number[] }>()
    expect(j.decode(j.encode({ a: [1, 2] }))).toEqual({ a: [1, 2] })
    const b = bytes()
    const buf = new Uint8Array(4)
    b.encodeInto!(new Uint8Array([1, 2]), buf, 1)
    expect([...buf]).toEqual([0, 1, 2, 0])
  })
})
