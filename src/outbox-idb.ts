/**
 * The outbox in IndexedDB, through `idb` (a small typed wrapper; `tx.done` is
 * the commit signal). One database per identity, two object stores:
 * `records` keyed by [protocol, peer, seq] and `lanes` keyed by
 * [protocol, peer]. Every `write` is one transaction.
 *
 * When another tab upgrades the database (`versionchange`) this connection
 * closes itself and reopens, at whatever version the database then has, on
 * the next write; quota errors and a closed or
 * blocked database become `StorageError`s, which the outbox reports and
 * retries.
 */
import { openDB } from 'idb'
import { StorageError } from './errors.js'
import type { OutboxBatch, OutboxLane, OutboxRecord, OutboxStore } from './outbox.js'
import type { AbortOptions } from '@libp2p/interface'
import type { DBSchema, IDBPDatabase } from 'idb'

interface OutboxSchema extends DBSchema {
  records: { key: [string, string, number], value: OutboxRecord }
  lanes: { key: [string, string], value: OutboxLane }
}

export interface IndexedDBOutboxInit {
  /** Database name; make it per identity, e.g. `libp2p-messenger/outbox/<peer id>`. */
  name: string
}

const VERSION = 1

export function indexedDBOutboxStore (init: IndexedDBOutboxInit): OutboxStore {
  let db: IDBPDatabase<OutboxSchema> | undefined
  let opening: Promise<IDBPDatabase<OutboxSchema>> | undefined

  const open = async (): Promise<IDBPDatabase<OutboxSchema>> => {
    if (db != null) return db
    opening ??= (async () => {
      if (globalThis.indexedDB == null) throw new StorageError('IndexedDB is not available here')
      const callbacks = {
        upgrade (database: IDBPDatabase<OutboxSchema>) {
          if (!database.objectStoreNames.contains('records')) {
            database.createObjectStore('records', { keyPath: ['protocol', 'peer', 'seq'] })
          }
          if (!database.objectStoreNames.contains('lanes')) {
            database.createObjectStore('lanes', { keyPath: ['protocol', 'peer'] })
          }
        },
        blocking () {
          // another tab wants a newer version: let it, reopen later
          db?.close()
          db = undefined
        },
        terminated () {
          db = undefined
        }
      }
      let conn: IDBPDatabase<OutboxSchema>
      try {
        conn = await withTimeout(openDB<OutboxSchema>(init.name, VERSION, callbacks), 10_000, 'Opening the outbox database is blocked by another tab')
      } catch (err: any) {
        if (err?.name !== 'VersionError') throw err
        // another tab upgraded the database: open whatever version it has now
        conn = await withTimeout(openDB<OutboxSchema>(init.name, undefined, callbacks), 10_000, 'Opening the outbox database is blocked by another tab')
        if (!conn.objectStoreNames.contains('records') || !conn.objectStoreNames.contains('lanes')) {
          const version = conn.version
          conn.close()
          conn = await withTimeout(openDB<OutboxSchema>(init.name, version + 1, callbacks), 10_000, 'Opening the outbox database is blocked by another tab')
        }
      }
      db = conn
      return conn
    })().finally(() => { opening = undefined })
    return opening
  }

  return {
    async load (options?: AbortOptions) {
      options?.signal?.throwIfAborted()
      try {
        const conn = await open()
        const tx = conn.transaction(['records', 'lanes'], 'readonly')
        const [records, lanes] = await Promise.all([tx.objectStore('records').getAll(), tx.objectStore('lanes').getAll(), tx.done])
        return { records, lanes }
      } catch (err: any) {
        throw toStorageError(err)
      }
    },
    async write (batch: OutboxBatch) {
      try {
        const conn = await open()
        const tx = conn.transaction(['records', 'lanes'], 'readwrite', { durability: 'relaxed' })
        const records = tx.objectStore('records')
        const lanes = tx.objectStore('lanes')
        for (const r of batch.remove) {
          void records.delete(IDBKeyRange.bound([r.protocol, r.peer, r.first], [r.protocol, r.peer, r.last]))
        }
        for (const r of batch.put) {
          void records.put(r)
        }
        for (const l of batch.lanes) {
          void lanes.put(l)
        }
        await tx.done
      } catch (err: any) {
        if (err?.name === 'InvalidStateError') {
          db = undefined // closed under us: reopen on the next try
        }
        throw toStorageError(err)
      }
    },
    close () {
      db?.close()
      db = undefined
    }
  }
}

function toStorageError (err: any): StorageError {
  if (err instanceof StorageError) return err
  const what = err?.name === 'QuotaExceededError' ? 'Storage quota exceeded' : `IndexedDB failed (${err?.name ?? 'error'})`
  return new StorageError(`${what}: ${err?.message ?? err}`, { cause: err })
}

async function withTimeout<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new StorageError(message)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}
