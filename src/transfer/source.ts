/**
 * What a sender reads chunks from: a `Blob`/`File` or a `Uint8Array` (random
 * access: any chunk can be read again, so a resume after the sender's own
 * reload re-reads what it needs) or a `ReadableStream` of bytes (read once,
 * in order, re-chunked to the chunk size).
 */
import { InvalidTransferError } from './errors.js'

/** What `send()` takes. */
export type TransferSource = Blob | Uint8Array | ReadableStream<Uint8Array>

export interface ChunkSource {
  /** Total bytes, when known before reading. */
  readonly size?: number
  /** Chunks can be read in any order, and again. */
  readonly random: boolean
  /**
   * Chunk `index` (chunkSize bytes, the last one shorter), or undefined past
   * the end. A sequential source reads `index` = the number of chunks read so
   * far only.
   */
  read(index: number): Promise<Uint8Array | undefined>
  /** Release the source (cancels a stream's reader). */
  close(reason?: unknown): void
}

export function chunkSource (source: TransferSource, chunkSize: number): ChunkSource {
  if (source instanceof Uint8Array) {
    return {
      size: source.byteLength,
      random: true,
      read: async (index) => {
        const start = index * chunkSize
        return start >= source.byteLength ? undefined : source.subarray(start, Math.min(source.byteLength, start + chunkSize))
      },
      close: () => {}
    }
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    return blobSource(source, chunkSize)
  }
  if (typeof ReadableStream !== 'undefined' && source instanceof ReadableStream) {
    return streamSource(source, chunkSize)
  }
  throw new InvalidTransferError('The source must be a Blob, a File, a Uint8Array or a ReadableStream<Uint8Array>')
}

function streamSource (stream: ReadableStream<Uint8Array>, chunkSize: number): ChunkSource {
  const reader = stream.getReader()
  let position = 0
  let done = false
  let parts: Uint8Array[] = []
  let buffered = 0
  return {
    random: false,
    async read (index) {
      if (index !== position) {
        throw new InvalidTransferError(`A stream source is read in order: chunk ${index} asked, ${position} next`)
      }
      while (buffered < chunkSize && !done) {
        const { value, done: end } = await reader.read()
        if (end) {
          done = true
        } else if (value != null && value.byteLength > 0) {
          if (!(value instanceof Uint8Array)) {
            throw new InvalidTransferError('A stream source must yield Uint8Arrays')
          }
          parts.push(value)
          buffered += value.byteLength
        }
      }
      if (buffered === 0) {
        return undefined
      }
      const take = Math.min(chunkSize, buffered)
      const out = new Uint8Array(take)
      let offset = 0
      while (offset < take) {
        const head = parts[0]
        const n = Math.min(head.byteLength, take - offset)
        out.set(head.subarray(0, n), offset)
        offset += n
        if (n === head.byteLength) {
          parts.shift()
        } else {
          parts[0] = head.subarray(n)
        }
      }
      buffered -= take
      position++
      return out
    },
    close (reason) {
      parts = []
      buffered = 0
      reader.cancel(reason).catch(() => {})
    }
  }
}

/**
 * A Blob read in blocks of about BLOCK bytes (whole chunks), each read once
 * and cut into chunks: one `arrayBuffer()` per chunk costs a round trip to
 * the browser's blob storage each, which left the connection idle. The block
 * being read and the next one are kept (about 2 MiB).
 */
const BLOCK = 1024 * 1024

function blobSource (blob: Blob, chunkSize: number): ChunkSource {
  const perBlock = Math.max(1, Math.floor(BLOCK / chunkSize))
  const blocks = new Map<number, Promise<Uint8Array>>()
  const block = (b: number): Promise<Uint8Array> => {
    let p = blocks.get(b)
    if (p == null) {
      const start = b * perBlock * chunkSize
      p = blob.slice(start, Math.min(blob.size, start + perBlock * chunkSize)).arrayBuffer().then(buf => new Uint8Array(buf))
      p.catch(() => {})
      blocks.set(b, p)
    }
    return p
  }
  return {
    size: blob.size,
    random: true,
    read: async (index) => {
      const start = index * chunkSize
      if (start >= blob.size) {
        return undefined
      }
      const b = Math.floor(index / perBlock)
      for (const key of blocks.keys()) {
        if (key < b || key > b + 1) {
          blocks.delete(key)
        }
      }
      const bytes = await block(b)
      // read the next block while this one is sent
      if ((b + 1) * perBlock * chunkSize < blob.size) {
        void block(b + 1)
      }
      const offset = (index - b * perBlock) * chunkSize
      return bytes.subarray(offset, Math.min(bytes.byteLength, offset + chunkSize))
    },
    close: () => { blocks.clear() }
  }
}
