/**
 * Incoming transfers in IndexedDB (through `idb`): one database, two object
 * stores, `transfers` (what was accepted, keyed by id) and `chunks` (keyed by
 * [id, index]). A receiver that reloads lists what it had and resumes from the
 * chunks stored.
 */
import { openDB } from 'idb'
import { StorageError, errorMessage } from '../errors.js'
import type { StoredTransfer, TransferStore } from './store.js'
import type { DBSchema, IDBPDatabase } from 'idb'

interface TransferSchema extends DBSchema {
  transfers: { key: string, value: StoredTransfer }
  chunks: { key: [string, number], value: { id: string, index: number, bytes: Uint8Array } }
}

export interface IndexedDBTransferInit {
  /** Database name; make it per identity, e.g. `libp2p-messenger/transfers/<peer id>`. */
  name: string
}

/** Incoming chunks in IndexedDB: bounded memory, and a reloaded receiver resumes. */
export function indexedDBTransferStore (init: IndexedDBTransferInit): TransferStore {
  let opening: Promise<IDBPDatabase<TransferSchema>> | undefined
  const db = async (): Promise<IDBPDatabase<TransferSchema>> => {
    opening ??= openDB<TransferSchema>(init.name, 1, {
      upgrade (database) {
        database.createObjectStore('transfers', { keyPath: 'id' })
        database.createObjectStore('chunks', { keyPath: ['id', 'index'] })
      },
      blocking (_current, _wanted, event) {
        (event.target as IDBDatabase).close()
        opening = undefined
      },
      terminated () { opening = undefined }
    }).catch((err) => {
      opening = undefined
      throw err
    })
    return opening
  }
  const wrap = async <R>(what: string, fn: (d: IDBPDatabase<TransferSchema>) => Promise<R>): Promise<R> => {
    try {
      return await fn(await db())
    } catch (err) {
      throw new StorageError(`Transfer store: ${what} failed: ${errorMessage(err)}`, { cause: err })
    }
  }
  const range = (id: string): IDBKeyRange => IDBKeyRange.bound([id, 0], [id, Number.MAX_SAFE_INTEGER])

  // puts that arrive while a write transaction is under way go together in the next one:
  // readwrite transactions on one store run one after another, one per chunk would be the bottleneck
  let queued: Array<{ id: string, index: number, bytes: Uint8Array, resolve: () => void, reject: (err: Error) => void }> = []
  let writing = false
  const writeQueued = async (): Promise<void> => {
    writing = true
    try {
      while (queued.length > 0) {
        const batch = queued
        queued = []
        try {
          await wrap('put', async d => {
            const tx = d.transaction('chunks', 'readwrite')
            for (const { id, index, bytes } of batch) {
              void tx.store.put({ id, index, bytes })
            }
            await tx.done
          })
          for (const p of batch) p.resolve()
        } catch (err) {
          for (const p of batch) p.reject(err as Error)
        }
      }
    } finally {
      writing = false
    }
  }

  // reads go ahead by READ_AHEAD chunks in one transaction (the receiver reads every chunk back, in order)
  let ahead: { id: string, from: number, records: Map<number, Uint8Array> } | undefined
  const READ_AHEAD = 16

  return {
    async open (record) {
      await wrap('open', async d => { await d.put('transfers', record) })
    },
    async list () {
      return wrap('list', async d => d.getAll('transfers'))
    },
    async put (id, index, bytes) {
      await new Promise<void>((resolve, reject) => {
        queued.push({ id, index, bytes, resolve, reject })
        if (!writing) {
          void writeQueued()
        }
      })
    },
    async get (id, index) {
      const cached = ahead?.id === id ? ahead.records.get(index) : undefined
      if (cached != null) {
        ahead?.records.delete(index)
        return cached
      }
      const records = await wrap('get', async d => d.getAll('chunks', IDBKeyRange.bound([id, index], [id, index + READ_AHEAD - 1])))
      ahead = { id, from: index, records: new Map(records.map(r => [r.index, r.bytes])) }
      const bytes = ahead.records.get(index)
      if (bytes == null) {
        throw new StorageError(`Transfer store: no chunk ${index} of ${id}`)
      }
      ahead.records.delete(index)
      return bytes
    },
    async indices (id) {
      const keys = await wrap('indices', async d => d.getAllKeys('chunks', range(id)))
      return keys.map(k => k[1])
    },
    async delete (id) {
      if (ahead?.id === id) {
        ahead = undefined
      }
      await wrap('delete', async d => {
        const tx = d.transaction(['transfers', 'chunks'], 'readwrite')
        await Promise.all([tx.objectStore('transfers').delete(id), tx.objectStore('chunks').delete(range(id)), tx.done])
      })
    },
    async close () {
      const pending = opening
      opening = undefined
      if (pending != null) {
        (await pending.catch(() => undefined))?.close()
      }
    }
  }
}
