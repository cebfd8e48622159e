/**
 * Codecs turn typed messages into bytes and back.
 *
 * A protons-generated protobuf type (`{ encode, decode }`) is already a codec.
 * Codecs that can size a message in advance implement `encodingLength` and
 * `encodeInto`, and the messenger then writes the message straight into its
 * outbound batch buffer without an intermediate allocation (the Go serde's
 * `Size`/`MarshalTo`).
 */

export interface Codec<T> {
  /** Encode a message to bytes. */
  encode(value: T): Uint8Array
  /**
   * Decode a message. `bytes` may be a view into a larger receive buffer: copy
   * it if you keep it beyond the decoded value's lifetime and mutate it.
   */
  decode(bytes: Uint8Array): T
  /** Exact number of bytes `encodeInto` will write. */
  encodingLength?(value: T): number
  /** Write the encoding of `value` at `target[offset]`; returns the number of bytes written. */
  encodeInto?(value: T, target: Uint8Array, offset: number): number
}

/**
 * Bytes as they are. Zero-copy both ways: a message over 4 KiB is queued by
 * reference (do not modify it after `send()`), and a received message is a
 * view of the received data.
 */
export function bytes (): Codec<Uint8Array> {
  return BYTES
}

const BYTES: Codec<Uint8Array> = {
  encode: (value) => value,
  decode: (value) => value,
  encodingLength: (value) => value.byteLength,
  encodeInto: (value, target, offset) => {
    target.set(value, offset)
    return value.byteLength
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** UTF-8 text. Invalid UTF-8 on receive is a malformed message. */
export function string (): Codec<string> {
  return STRING
}

const STRING: Codec<string> = {
  encode: (value) => encoder.encode(value),
  decode: (value) => decoder.decode(value),
  encodingLength: utf8Length,
  encodeInto: (value, target, offset) => encoder.encodeInto(value, target.subarray(offset)).written
}

/** JSON as UTF-8 text. */
export function json<T = unknown> (): Codec<T> {
  return {
    encode: (value) => encoder.encode(JSON.stringify(value)),
    decode: (value) => JSON.parse(decoder.decode(value)) as T
  }
}

/** Number of bytes `value` takes as UTF-8 (lone surrogates count as U+FFFD, as `TextEncoder` writes them). */
export function utf8Length (value: string): number {
  let length = 0
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 0x80) {
      length += 1
    } else if (c < 0x800) {
      length += 2
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        length += 4
        i++
      } else {
        length += 3
      }
    } else {
      length += 3
    }
  }
  return length
}
