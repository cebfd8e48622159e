/**
 * The page bench/outbox.ts drives (issue 4): the IndexedDB outbox against raw
 * batched IndexedDB puts in the same page, and throughput to an online peer
 * with persistence on and off.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { openDB } from 'idb'
import { bytes, createMessenger, indexedDBOutboxStore, openOutbox, type Messenger } from '../../src/index.js'
import { createBrowserNode, type BrowserNode } from '../../src/browser/index.js'

const ON = '/obench/on/1.0.0'
const OFF = '/obench/off/1.0.0'
/** B tells A a round arrived complete on this protocol */
const DONE = '/obench/done/1.0.0'

const state: {
  node?: BrowserNode
  on?: Messenger<Uint8Array>
  off?: Messenger<Uint8Array>
  done?: Messenger<Uint8Array>
  outboxes: Array<{ close: () => Promise<void> | void }>
} = { outboxes: [] }

const dbName = (what: string): string => `obench/${what}/${Math.random().toString(36).slice(2)}`

async function drop (name: string): Promise<void> {
  await new Promise<void>((resolve) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = r.onerror = r.onblocked = () => { resolve() } })
}

const obench = {
  /**
   * The SDK: `n` sends of `size` bytes to a peer that is not reachable (so
   * they stay queued), until `flush()` says all are stored. Messages per second.
   */
  async sdkEnqueue (n: number, size: number): Promise<number> {
    const node = state.node!
    const name = dbName('sdk')
    const outbox = await openOutbox(indexedDBOutboxStore({ name }))
    const m = createMessenger<Uint8Array>(node, { protocol: `/obench/q/${name}`, codec: bytes(), outbox, queueTtl: Infinity })
    await m.ready
    const away = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const payload = new Uint8Array(size).fill(7)
    const t0 = performance.now()
    for (let i = 0; i < n; i++) m.send(away, payload)
    await m.flush()
    const ms = performance.now() - t0
    if (m.pending() !== n) throw new Error(`expected ${n} queued, found ${m.pending()}`)
    await m.stop()
    await outbox.close()
    await drop(name)
    return n / ms * 1000
  },

  /** Raw idb: the same records (same key path and shape) put in one relaxed transaction. */
  async rawEnqueue (n: number, size: number): Promise<number> {
    const name = dbName('raw')
    const db = await openDB(name, 1, { upgrade (d) { d.createObjectStore('records', { keyPath: ['protocol', 'peer', 'seq'] }) } })
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const payload = new Uint8Array(size).fill(7)
    const t0 = performance.now()
    const tx = db.transaction('records', 'readwrite', { durability: 'relaxed' })
    for (let i = 0; i < n; i++) void tx.store.put({ protocol: '/obench/raw', peer, seq: i + 1, payload })
    await tx.done
    const ms = performance.now() - t0
    db.close()
    await drop(name)
    return n / ms * 1000
  },

  /** Join `room` with two messengers (outbox on, outbox off) and a control channel. */
  async start (relays: string[], room: string): Promise<string> {
    const node = await createBrowserNode({ relays, room, allowInsecureRelays: true })
    state.node = node
    const outbox = await openOutbox(indexedDBOutboxStore({ name: dbName('on') }))
    state.outboxes.push(outbox)
    state.on = createMessenger<Uint8Array>(node, { protocol: ON, codec: bytes(), outbox })
    state.off = createMessenger<Uint8Array>(node, { protocol: OFF, codec: bytes() })
    state.done = createMessenger<Uint8Array>(node, { protocol: DONE, codec: bytes() })
    await Promise.all([state.on.ready, state.off.ready, state.done.ready])
    document.getElementById('status')!.textContent = 'started'
    return node.peerId.toString()
  },

  direct: (peer: string): boolean => state.on?.connection(peerIdFromString(peer)) === 'direct' && state.off?.connection(peerIdFromString(peer)) === 'direct',

  /** Receiver: count each round of `n` messages on both protocols and say so when one is complete. */
  receive (n: number): void {
    for (const m of [state.on!, state.off!]) {
      let count = 0
      void (async () => {
        for await (const { from } of m) {
          if (++count === n) {
            count = 0
            state.done!.send(from, new Uint8Array(1))
          }
        }
      })()
    }
  },

  /** Sender: `n` messages of `size` bytes to `peer`, persisted or not; messages per second until the receiver had them all. */
  async round (peer: string, persisted: boolean, n: number, size: number): Promise<number> {
    const to = peerIdFromString(peer)
    const m = persisted ? state.on! : state.off!
    const payload = new Uint8Array(size).fill(1)
    const t0 = performance.now()
    for (let i = 0; i < n; i++) m.send(to, payload)
    await state.done!.receive({ signal: AbortSignal.timeout(120_000) })
    const ms = performance.now() - t0
    if (persisted) await m.flush()
    return n / ms * 1000
  },

  async stop (): Promise<void> {
    await Promise.all([state.on?.stop(), state.off?.stop(), state.done?.stop()])
    for (const o of state.outboxes) await o.close()
    await state.node?.stop()
  }
}

declare global { interface Window { obench: typeof obench } }
window.obench = obench
document.getElementById('status')!.textContent = 'ready'
