/**
 * Where a receiver keeps the chunks of incoming transfers until they are
 * complete. `memoryTransferStore()` (the default) holds them in memory, so the
 * whole payload is in memory at the end; `indexedDBTransferStore()` keeps them
 * in IndexedDB, so a receiver holds only the chunk window in memory and a
 * reloaded receiver resumes where it was.
 */

/** What the receiver remembers of an accepted transfer, to resume it after a reload. */
export interface StoredTransfer {
  id: string
  /** The sender, as a peer id string. */
  peer: string
  name: string
  type: string
  size?: number
  meta?: unknown
  chunkSize: number
  digest?: string
}

/**
 * A receiver's chunk storage. Every method may be called concurrently for
 * different chunks; `put` resolving means the chunk is stored (the receiver
 * acknowledges it only then).
 */
export interface TransferStore {
  /** Record an accepted transfer (before its first chunk is put). */
  open(transfer: StoredTransfer): Promise<void>
  /** Transfers recorded and not yet deleted: what a previous session left. */
  list(): Promise<StoredTransfer[]>
  /** Store chunk `index` of transfer `id`. `bytes` is the store's own copy. */
  put(id: string, index: number, bytes: Uint8Array): Promise<void>
  /** The bytes of chunk `index` (the receiver reads them back to verify and assemble the payload). */
  get(id: string, index: number): Promise<Uint8Array>
  /** Indices of the chunks stored for `id`, ascending. */
  indices(id: string): Promise<number[]>
  /** Forget transfer `id` and its chunks. */
  delete(id: string): Promise<void>
  /** Release the store (the receiver calls it on stop when it created the store itself). */
  close?(): Promise<void>
}

/** Chunks in memory. Nothing survives a reload. */
export function memoryTransferStore (): TransferStore {
  const transfers = new Map<string, { record: StoredTransfer, chunks: Map<number, Uint8Array> }>()
  const entry = (id: string): { record: StoredTransfer, chunks: Map<number, Uint8Array> } => {
    const e = transfers.get(id)
    if (e == null) {
      throw new Error(`No transfer ${id} in the store`)
    }
    return e
  }
  return {
    async open (record) {
      if (!transfers.has(record.id)) {
        transfers.set(record.id, { record, chunks: new Map() })
      }
    },
    async list () {
      return [...transfers.values()].map(e => e.record)
    },
    async put (id, index, bytes) {
      entry(id).chunks.set(index, bytes)
    },
    async get (id, index) {
      const bytes = entry(id).chunks.get(index)
      if (bytes == null) {
        throw new Error(`No chunk ${index} of transfer ${id} in the store`)
      }
      return bytes
    },
    async indices (id) {
      return [...(transfers.get(id)?.chunks.keys() ?? [])].sort((a, b) => a - b)
    },
    async delete (id) {
      transfers.delete(id)
    }
  }
}
