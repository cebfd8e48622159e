/**
 * The transfer protocol's messages, carried as messages of one messenger
 * channel (default delivery mode: the protocol has its own acknowledgements
 * and recovery). Each message is one kind byte, then:
 *
 * ```
 * CHUNK (1)   <u8 id length> <id, UTF-8> <varint index> <chunk bytes>
 * others      <JSON object, UTF-8>
 * ```
 *
 * sender → receiver: OFFER, CHUNK, END, QUERY, CANCEL;
 * receiver → sender: ACCEPT, ACK, RESUME, REJECT, DONE, CANCEL_RECEIVE.
 * ACCEPT, ACK and RESUME carry `next`: the receiver has stored chunks
 * `0 … next-1`. ACK only moves the window; ACCEPT and RESUME also ask the
 * sender to send from `from` (default `next`: after a gap, a reconnect, a
 * reload or a QUERY). A QUERY asks the receiver where it is.
 */
import { decode as decodeVarint, encodingLength as varintLength, encode as encodeVarint } from 'uint8-varint'
import type { Codec } from '../core/codec.js'

export const OFFER = 0
export const CHUNK = 1
export const ACCEPT = 2
export const ACK = 3
export const RESUME = 4
export const REJECT = 5
export const END = 6
export const DONE = 7
/** sent by the sender */
export const CANCEL = 8
export const QUERY = 9
/** sent by the receiver */
export const CANCEL_RECEIVE = 10

/** Cancel codes. */
export type CancelCode = 'cancelled' | 'integrity' | 'protocol' | 'unknown' | 'storage'

export interface OfferMessage {
  kind: typeof OFFER
  id: string
  name: string
  type: string
  size?: number
  meta?: unknown
  chunkSize: number
  digest?: string
}
export interface ChunkMessage { kind: typeof CHUNK, id: string, index: number, data: Uint8Array }
export interface NextMessage { kind: typeof ACCEPT | typeof ACK | typeof RESUME, id: string, next: number, from?: number }
export interface RejectMessage { kind: typeof REJECT, id: string, reason: string }
export interface EndMessage { kind: typeof END, id: string, chunks: number, size: number, digest: string }
export interface DoneMessage { kind: typeof DONE, id: string }
export interface CancelMessage { kind: typeof CANCEL | typeof CANCEL_RECEIVE, id: string, code: CancelCode, reason: string }
export interface QueryMessage { kind: typeof QUERY, id: string }

export type TransferMessage = OfferMessage | ChunkMessage | NextMessage | RejectMessage | EndMessage | DoneMessage | CancelMessage | QueryMessage

/** Longest transfer id on the wire. */
export const MAX_ID_LENGTH = 64

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encode (msg: TransferMessage): Uint8Array {
  if (msg.kind === CHUNK) {
    const id = encoder.encode(msg.id)
    const out = new Uint8Array(2 + id.byteLength + varintLength(msg.index) + msg.data.byteLength)
    out[0] = CHUNK
    out[1] = id.byteLength
    out.set(id, 2)
    let offset = 2 + id.byteLength
    encodeVarint(msg.index, out, offset)
    offset += varintLength(msg.index)
    out.set(msg.data, offset)
    return out
  }
  const { kind, ...rest } = msg
  const body = encoder.encode(JSON.stringify(rest))
  const out = new Uint8Array(1 + body.byteLength)
  out[0] = kind
  out.set(body, 1)
  return out
}

function fail (what: string): never {
  throw new Error(`Malformed transfer message: ${what}`)
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH
const isHex = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)
const CODES = new Set(['cancelled', 'integrity', 'protocol', 'unknown', 'storage'])

/** Decode and validate; throws on anything malformed (the messenger then resets the stream). */
export function decode (bytes: Uint8Array): TransferMessage {
  if (bytes.byteLength < 2) {
    fail('too short')
  }
  const kind = bytes[0]
  if (kind === CHUNK) {
    const idLength = bytes[1]
    if (idLength === 0 || idLength > MAX_ID_LENGTH || bytes.byteLength < 2 + idLength + 1) {
      fail('bad chunk header')
    }
    const id = decoder.decode(bytes.subarray(2, 2 + idLength))
    const offset = 2 + idLength
    const index = decodeVarint(bytes, offset)
    if (!isCount(index)) {
      fail('bad chunk index')
    }
    const data = bytes.subarray(offset + varintLength(index))
    return { kind: CHUNK, id, index, data }
  }
  const o = JSON.parse(decoder.decode(bytes.subarray(1)))
  if (typeof o !== 'object' || o == null || !isId(o.id)) {
    fail('no id')
  }
  switch (kind) {
    case OFFER:
      if (typeof o.name !== 'string' || typeof o.type !== 'string' || !isCount(o.chunkSize) || o.chunkSize === 0 ||
        (o.size != null && !isCount(o.size)) || (o.digest != null && !isHex(o.digest))) {
        fail('bad offer')
      }
      return { kind, id: o.id, name: o.name, type: o.type, size: o.size ?? undefined, meta: o.meta, chunkSize: o.chunkSize, digest: o.digest ?? undefined }
    case ACCEPT: case ACK: case RESUME:
      if (!isCount(o.next) || (o.from != null && (!isCount(o.from) || o.from < o.next))) {
        fail('bad next')
      }
      return { kind, id: o.id, next: o.next, from: o.from ?? undefined }
    case REJECT:
      return { kind, id: o.id, reason: String(o.reason ?? '') }
    case END:
      if (!isCount(o.chunks) || !isCount(o.size) || !isHex(o.digest)) {
        fail('bad end')
      }
      return { kind, id: o.id, chunks: o.chunks, size: o.size, digest: o.digest }
    case DONE: case QUERY:
      return { kind, id: o.id }
    case CANCEL: case CANCEL_RECEIVE:
      return { kind, id: o.id, code: CODES.has(o.code) ? o.code : 'cancelled', reason: String(o.reason ?? '') }
    default:
      return fail(`unknown kind ${kind}`)
  }
}

/** The channel's codec. */
export const transferCodec: Codec<TransferMessage> = { encode, decode }
