/**
 * The IndexedDB outbox store's logic on fake-indexeddb (fast); the same
 * behaviour is proven in Chromium by e2e/durable.spec.ts.
 */
import 'fake-indexeddb/auto'
import { describe, it, expect } from 'vitest'
import { indexedDBOutboxStore, openOutbox } from '../../src/index.js'

const rec = (peer: string, seq: number): { protocol: string, peer: string, seq: number, payload: Uint8Array } => ({ protocol: '/p/1', peer, seq, payload: new Uint8Array([seq & 0xff]) })

describe('indexedDBOutboxStore', () => {
  it('writes, removes ranges and loads records in (protocol, peer, seq) order', async () => {
    const store = indexedDBOutboxStore({ name: `t-${Math.random()}` })
    await store.write({ put: [rec('b', 3), rec('a', 2), rec('b', 1), rec('b', 2), rec('a', 1)], remove: [], lanes: [] })
    await store.write({ put: [], remove: [{ protocol: '/p/1', peer: 'b', first: 1, last: 2 }], lanes: [{ protocol: '/p/1', peer: 'b', epoch: new Uint8Array(8), nextSeq: 4, updatedAt: 1 }] })
    const { records, lanes } = await store.load()
    expect(records.map(r => `${r.peer}${r.seq}`)).toEqual(['a1', 'a2', 'b3'])
    expect(records[2].payload).toEqual(new Uint8Array([3]))
    expect(lanes).toHaveLength(1)
    await store.close()
  })

  it('survives a reopen (a reload) and the outbox restores lanes from it', async () => {
    const name = `t-${Math.random()}`
    const s1 = indexedDBOutboxStore({ name })
    await s1.write({ put: [rec('peer', 5), rec('peer', 6)], remove: [], lanes: [{ protocol: '/p/1', peer: 'peer', epoch: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), nextSeq: 7, updatedAt: Date.now() }] })
    await s1.close()
    const outbox = await openOutbox(indexedDBOutboxStore({ name }))
    expect(outbox.pendingRestored('/p/1')).toEqual(['peer'])
    await outbox.close()
  })

  it('keeps working after another tab upgrades the database to a newer version', async () => {
    const name = `t-${Math.random()}`
    const store = indexedDBOutboxStore({ name })
    await store.write({ put: [rec('p', 1)], remove: [], lanes: [] })
    // another tab opens version 2: ours is asked to close, and does
    await new Promise<void>((resolve, reject) => {
      const req = indexedDB.open(name, 2)
      req.onupgradeneeded = () => { req.result.createObjectStore('other') }
      req.onsuccess = () => { req.result.close(); resolve() }
      req.onerror = () => { reject(req.error) }
      req.onblocked = () => { reject(new Error('blocked: the store did not let go')) }
    })
    await store.write({ put: [rec('p', 2)], remove: [], lanes: [] })
    const { records } = await store.load()
    expect(records.map(r => r.seq)).toEqual([1, 2])
    await store.close()
  })
})
