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
    return {
      size: source.size,
      random: true,
      read: async (index) => {
        const start = index * chunkSize
        if (start >= source.size) {
          return undefined
        }
        return new Uint8Array(await source.slice(start, Math.min(source.size, start + chunkSize)).arrayBuffer())
      },
      close: () => {}
    }
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
