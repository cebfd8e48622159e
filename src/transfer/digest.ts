/**
 * The transfer digest: SHA-256 over the list of the SHA-256 digests of the
 * payload's chunks (each `chunkSize` bytes, the last one shorter):
 *
 * ```
 * digest = SHA-256( SHA-256(chunk 0) || SHA-256(chunk 1) || … || SHA-256(chunk n-1) )
 * ```
 *
 * Why this and not a plain SHA-256 of the whole payload: WebCrypto
 * (`crypto.subtle`, native in browsers and Node 20+) has no incremental
 * hashing, and a plain streaming SHA-256 would need a JavaScript
 * implementation (several times slower than the native one, on the main
 * thread, and a dependency). Per-chunk digests use the native code; the state
 * of an interrupted hash is just the list of chunk digests (32 bytes per
 * chunk), so a sender resuming after a reload re-hashes only from its own
 * source and a receiver verifies chunk by chunk from its store. The price: the
 * digest depends on the chunk size, and is not what `sha256sum` prints.
 */

/** SHA-256 of `bytes` (WebCrypto). */
export async function sha256 (bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
}

/** The transfer digest from the chunks' digests, in order, as lowercase hex. */
export async function rootDigest (chunkDigests: Uint8Array[]): Promise<string> {
  const all = new Uint8Array(chunkDigests.length * 32)
  chunkDigests.forEach((d, i) => { all.set(d, i * 32) })
  return toHex(await sha256(all))
}

export function toHex (bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) {
    s += b.toString(16).padStart(2, '0')
  }
  return s
}
