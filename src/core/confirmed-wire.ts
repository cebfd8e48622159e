/**
 * The confirmed-mode wire format, in one place (README "Wire formats"):
 *
 * ```
 * sender → receiver   <varint n> <varint seq> <message>      seq ≥ 1, consecutive per sender and peer
 *                     <varint 9> <varint 0>   <8-byte epoch>   first frame of every stream: the sender's sequence space
 * receiver → sender   <varint n> <varint seq>                  cumulative: the receiver's application has taken 1…seq
 * ```
 *
 * The outer `<varint n>` is the ordinary frame (framing.ts); this module
 * reads and writes what is inside. Every varint is read by `readVarint`:
 * minimal, and at most `MAX_SEQ_BYTES` long.
 */
import { MalformedMessageError } from '../errors.js'
import { readVarint, writeVarint } from './framing.js'
import type { Cursor } from './framing.js'

/** The sequence number of the hello frame. */
export const HELLO_SEQ = 0

/** Bytes of a sender's epoch (a random sequence-space id). */
export const EPOCH_BYTES = 8

/** A sequence number fits a JavaScript integer: at most 8 varint bytes (2^56). */
export const MAX_SEQ_BYTES = 8

/** The hello frame (prefix included) naming `epoch`. */
export function helloFrame (epoch: Uint8Array): Uint8Array {
  const frame = new Uint8Array(2 + epoch.byteLength)
  frame[0] = 1 + epoch.byteLength
  frame[1] = HELLO_SEQ
  frame.set(epoch, 2)
  return frame
}

/** A data or hello frame's payload, split: its sequence number, and the body after it. */
export interface Sequenced {
  seq: number
  body: Uint8Array
}

const cursor: Cursor = { pos: 0 }

/** Split a frame's payload into its sequence number and body. */
export function readSequenced (payload: Uint8Array): Sequenced {
  cursor.pos = 0
  let seq: number
  try {
    seq = readVarint(payload, cursor, MAX_SEQ_BYTES)
  } catch (err: any) {
    throw new MalformedMessageError(`Confirmed frame with a bad sequence number: ${err.message}`, { cause: err })
  }
  if (seq < 0) {
    throw new MalformedMessageError('Confirmed frame without a sequence number')
  }
  return { seq, body: payload.subarray(cursor.pos) }
}

/** The epoch a hello's body names, as hex. */
export function helloEpoch (body: Uint8Array): string {
  if (body.byteLength !== EPOCH_BYTES) {
    throw new MalformedMessageError('Malformed hello frame')
  }
  let out = ''
  for (const b of body) {
    out += b.toString(16).padStart(2, '0')
  }
  return out
}

/** An acknowledgement frame (prefix included) for everything up to `seq`. */
export function ackFrame (seq: number): Uint8Array {
  const buf = new Uint8Array(1 + MAX_SEQ_BYTES + 1)
  const end = writeVarint(seq, buf, 1)
  buf[0] = end - 1
  return buf.subarray(0, end)
}

/** The sequence number an acknowledgement's payload names (exactly one minimal varint). */
export function readAck (payload: Uint8Array): number {
  cursor.pos = 0
  const seq = readVarint(payload, cursor, MAX_SEQ_BYTES)
  if (seq < 0 || cursor.pos !== payload.byteLength) {
    throw new MalformedMessageError('Malformed acknowledgement')
  }
  return seq
}
