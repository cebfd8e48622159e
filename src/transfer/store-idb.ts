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
  return {
    async open (record) {
      await wrap('open', async d => { await d.put('transfers', record) })
    },
    async list () {
      return wrap('list', async d => d.getAll('transfers'))
    },
    async put (id, index, bytes) {
      await wrap('put', async d => { await d.put('chunks', { id, index, bytes }) })
    },
    async get (id, index) {
      const rec = await wrap('get', async d => d.get('chunks', [id, index]))
      if (rec == null) {
        throw new StorageError(`Transfer store: no chunk ${index} of ${id}`)
      }
      return rec.bytes
    },
    async indices (id) {
      const keys = await wrap('indices', async d => d.getAllKeys('chunks', range(id)))
      return keys.map(k => k[1])
    },
    async delete (id) {
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
