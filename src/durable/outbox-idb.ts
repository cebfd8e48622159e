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
import { openDB, unwrap } from 'idb'
import { StorageError, errorMessage } from '../errors.js'
import type { LedgerEntry, OutboxBatch, OutboxLane, OutboxLedger, OutboxRecord, OutboxStore } from './outbox.js'
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

/**
 * How long opening the database may wait behind another tab (a blocked
 * upgrade) before the attempt fails with a `StorageError` and is retried.
 *
 * @default 10_000
 */
export const DEFAULT_OPEN_TIMEOUT = 10_000

export function indexedDBOutboxStore (init: IndexedDBOutboxInit): OutboxStore {
  const ledger = globalThis.localStorage != null ? localStorageLedger(init.name) : undefined
  let db: IDBPDatabase<OutboxSchema> | undefined
  let opening: Promise<IDBPDatabase<OutboxSchema>> | undefined
  /** bumped by close(): an open still under way then closes what it gets */
  let generation = 0

  const upgrade = (database: IDBPDatabase<OutboxSchema>): void => {
    if (!database.objectStoreNames.contains('records')) {
      database.createObjectStore('records', { keyPath: ['protocol', 'peer', 'seq'] })
    }
    if (!database.objectStoreNames.contains('lanes')) {
      database.createObjectStore('lanes', { keyPath: ['protocol', 'peer'] })
    }
  }

  /**
   * One connection attempt. Each connection closes itself when another tab
   * wants a newer version, and one that opens only after its attempt timed
   * out is closed at once: this tab never blocks another's upgrade.
   */
  const connect = async (version?: number): Promise<IDBPDatabase<OutboxSchema>> => {
    const pending = openDB<OutboxSchema>(init.name, version, {
      upgrade,
      blocking (_current, _wanted, event) {
        const raw = event.target as IDBDatabase
        raw.close()
        if (db != null && unwrap(db) === raw) db = undefined
      },
      terminated () { db = undefined }
    })
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new StorageError('Opening the outbox database is blocked by another tab'))
        pending.then((late) => { late.close() }, () => {})
      }, DEFAULT_OPEN_TIMEOUT)
    })
    try {
      return await Promise.race([pending, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  const open = async (): Promise<IDBPDatabase<OutboxSchema>> => {
    if (db != null) return db
    opening ??= (async () => {
      if (globalThis.indexedDB == null) throw new StorageError('IndexedDB is not available here')
      const gen = generation
      let conn: IDBPDatabase<OutboxSchema>
      try {
        conn = await connect(VERSION)
      } catch (err: any) {
        if (err?.name !== 'VersionError') throw err
        // another tab upgraded the database: open whatever version it has now
        conn = await connect()
        if (!conn.objectStoreNames.contains('records') || !conn.objectStoreNames.contains('lanes')) {
          const version = conn.version
          conn.close()
          conn = await connect(version + 1)
        }
      }
      if (gen !== generation) {
        conn.close()
        throw new StorageError('The outbox database was closed')
      }
      db = conn
      return conn
    })().finally(() => { opening = undefined })
    return opening
  }

  return {
    ledger,
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
      generation++
      db?.close()
      db = undefined
    }
  }
}

function toStorageError (err: any): StorageError {
  if (err instanceof StorageError) return err
  const what = err?.name === 'QuotaExceededError' ? 'Storage quota exceeded' : `IndexedDB failed (${err?.name ?? 'error'})`
  return new StorageError(`${what}: ${errorMessage(err)}`, { cause: err })
}

/**
 * The outbox's synchronous ledger in `localStorage` (sequence positions, and
 * what the page could not store before it went away), one key per lane under
 * `libp2p-messenger/outbox-ledger/<namespace>/`. `indexedDBOutboxStore` uses
 * it with its database name; a write that fails (quota) is reported by the
 * outbox as a `StorageError`.
 */
export function localStorageLedger (namespace: string, storage: Storage = globalThis.localStorage): OutboxLedger {
  const prefix = `libp2p-messenger/outbox-ledger/${namespace}/`
  return {
    load () {
      const out = new Map<string, LedgerEntry>()
      for (let i = 0; i < storage.length; i++) {
        const k = storage.key(i)
        if (k?.startsWith(prefix) !== true) continue
        try {
          const v = JSON.parse(storage.getItem(k) ?? '')
          const entry: LedgerEntry = { epoch: v.e, issued: v.i, released: v.r, updatedAt: v.t }
          if (Array.isArray(v.k)) entry.skipped = v.k
          if (Array.isArray(v.s)) entry.spill = v.s.map(([seq, b64]: [number, string]) => ({ seq, payload: fromBase64(b64) }))
          out.set(k.slice(prefix.length), entry)
        } catch {
          // not one of ours (or damaged): skipped, as if it were not there
        }
      }
      return out
    },
    save (key, entry) {
      if (entry == null) {
        storage.removeItem(prefix + key)
        return
      }
      const v: Record<string, unknown> = { e: entry.epoch, i: entry.issued, r: entry.released, t: entry.updatedAt }
      if (entry.skipped != null) v.k = entry.skipped
      if (entry.spill != null) v.s = entry.spill.map(m => [m.seq, toBase64(m.payload)])
      storage.setItem(prefix + key, JSON.stringify(v))
    }
  }
}

function toBase64 (bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.byteLength; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(s)
}

function fromBase64 (b64: string): Uint8Array {
  return Uint8Array.from(atob(b64), c => c.charCodeAt(0))
}
