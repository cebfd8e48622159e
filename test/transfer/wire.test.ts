/**
 * The transfer wire format: every message kind round-trips, and garbage —
 * random bytes and mutated valid messages — is either a valid message or an
 * Error (which makes the messenger reset the stream), never anything else.
 */
import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  decode, encode, ACCEPT, ACK, CANCEL, CANCEL_RECEIVE, CHUNK, DONE, END, OFFER, QUERY, REJECT, RESUME, type TransferMessage
} from '../../src/transfer/wire.js'

const HEX = 'ab'.repeat(32)
const samples: TransferMessage[] = [
  { kind: OFFER, id: 'x1', name: 'photo.jpg', type: 'image/jpeg', size: 123, meta: { chat: 'lobby', n: [1, 2] }, chunkSize: 65536, digest: HEX },
  { kind: OFFER, id: 'x2', name: '', type: '', size: undefined, meta: undefined, chunkSize: 1, digest: undefined },
  { kind: CHUNK, id: 'x1', index: 0, data: new Uint8Array([1, 2, 3]) },
  { kind: CHUNK, id: 'y'.repeat(64), index: 2 ** 40, data: new Uint8Array(0) },
  { kind: ACCEPT, id: 'x1', next: 0, from: 3 },
  { kind: ACK, id: 'x1', next: 7, from: undefined },
  { kind: RESUME, id: 'x1', next: 5, from: 9 },
  { kind: REJECT, id: 'x1', reason: 'too large' },
  { kind: END, id: 'x1', chunks: 2, size: 123, digest: HEX },
  { kind: DONE, id: 'x1' },
  { kind: QUERY, id: 'x1' },
  { kind: CANCEL, id: 'x1', code: 'cancelled', reason: 'user' },
  { kind: CANCEL_RECEIVE, id: 'x1', code: 'integrity', reason: 'digest' }
]

function valid (m: TransferMessage): boolean {
  const count = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  if (typeof m.id !== 'string' || m.id.length === 0 || m.id.length > 64) return false
  switch (m.kind) {
    case OFFER: return typeof m.name === 'string' && typeof m.type === 'string' && count(m.chunkSize) && m.chunkSize > 0 && (m.size == null || count(m.size))
    case CHUNK: return count(m.index) && m.data instanceof Uint8Array
    case ACCEPT: case ACK: case RESUME: return count(m.next) && (m.from == null || (count(m.from) && m.from >= m.next))
    case END: return count(m.chunks) && count(m.size) && /^[0-9a-f]{64}$/.test(m.digest)
    case REJECT: case CANCEL: case CANCEL_RECEIVE: case DONE: case QUERY: return true
    default: return false
  }
}

describe('transfer wire', () => {
  it('every kind round-trips', () => {
    for (const m of samples) {
      expect(decode(encode(m))).toEqual(m)
    }
  })

  it('random and mutated bytes decode to a valid message or throw an Error', () => {
    const encoded = samples.map(encode)
    const mutated = fc.tuple(fc.constantFrom(...encoded), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat())
      .map(([bytes, flips, cut]) => {
        const copy = bytes.slice(0, Math.max(0, bytes.byteLength - (cut % 4)))
        for (const [i, v] of flips) if (copy.byteLength > 0) copy[i % copy.byteLength] = v
        return copy
      })
    const input = fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated)
    fc.assert(fc.property(input, (bytes) => {
      let m: TransferMessage
      try {
        m = decode(bytes)
      } catch (err) {
        return err instanceof Error
      }
      return valid(m)
    }), { numRuns: 20_000, seed: 14 })
  })
})
