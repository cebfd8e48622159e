/**
 * Confirmed delivery: sequence numbers, cumulative acknowledgements, resend
 * after breaks, duplicates dropped; and the durable outbox across restarts.
 */
import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { createMessenger, bytes, string, memoryReceipts, openOutbox, type Messenger, type RangeDetail, type ErrorDetail } from '../../src/index.js'
import { memoryOutboxStore, type OutboxStore } from '../../src/outbox/index.js'
import { createNodes, connect, introduce, until, stopAfterEach, type TestNode } from '../helpers/nodes.js'
import type { PrivateKey } from '@libp2p/interface'

const PROTOCOL = '/confirmed-test/1.0.0'

const live = stopAfterEach()

async function nodeWithKey (privateKey: PrivateKey, port = 0): Promise<TestNode> {
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: [`/ip4/127.0.0.1/tcp/${port}`] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
  live.nodes.push(node)
  return node
}

function numbered (i: number): Uint8Array {
  const out = new Uint8Array(64)
  new DataView(out.buffer).setUint32(0, i)
  return out
}
const number = (d: Uint8Array): number => new DataView(d.buffer, d.byteOffset).getUint32(0)

describe('confirmed delivery', () => {
  it('uses its own protocol id: a default-mode peer never reads it', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string(), delivery: 'confirmed' })
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(ma, mb)
    expect(ma.protocol).toBe(`${PROTOCOL}/confirmed`)
    await Promise.all([ma.ready, mb.ready])
    await connect(a, b)
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(ma.peers()).toEqual([])
    expect(mb.peers()).toEqual([])
  })

  it('delivered events cover every message, in order; the queue empties only on acknowledgement', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes(), delivery: 'confirmed' })
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes(), delivery: 'confirmed' })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    const delivered: RangeDetail[] = []
    ma.addEventListener('delivered', (e) => delivered.push(e.detail))
    for (let i = 0; i < 100; i++) ma.send(b.peerId, numbered(i))
    // nobody on b has taken anything yet: nothing is acknowledged
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(delivered).toEqual([])
    expect(ma.pending(b.peerId)).toBe(100)
    for (let i = 0; i < 100; i++) expect(number((await mb.receive()).data)).toBe(i)
    await until(() => ma.pending(b.peerId) === 0, 5000, 'acknowledgements')
    let next = 1
    for (const d of delivered) {
      expect(d.first).toBe(next)
      next = d.last + 1
    }
    expect(next).toBe(101)
  })

  it('across a connection aborted mid-transfer: every message once, in order (the default mode would lose the in-flight ones)', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes(), delivery: 'confirmed', minBackoff: 50, maxQueuedMessages: 20_000 })
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes(), delivery: 'confirmed' })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    const drops: unknown[] = []
    ma.addEventListener('drop', (e) => drops.push(e.detail))
    const n = 20_000
    const got: number[] = []
    let cuts = 0
    const reading = (async () => {
      for await (const { data } of mb) {
        got.push(number(data))
        if (got.length % 5000 === 2500 && cuts < 3) {
          cuts++
          for (const conn of a.getConnections(b.peerId)) conn.abort(new Error('cable cut'))
        }
        if (got.length === n) break
      }
    })()
    for (let i = 0; i < n; i++) ma.send(b.peerId, numbered(i))
    await reading
    expect(cuts).toBe(3)
    expect(drops).toEqual([])
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i))
    await until(() => ma.pending() === 0, 5000, 'all acknowledged')
    await expect(mb.receive({ signal: AbortSignal.timeout(500) })).rejects.toMatchObject({ name: 'TimeoutError' })
  })

  it('the receiver restarts mid-transfer: its application sees every message once, in order', async () => {
    const keyB = await generateKeyPair('Ed25519')
    const [a] = live.nodes = await createNodes(1)
    let b = await nodeWithKey(keyB)
    const port = Number(b.getMultiaddrs()[0].toString().split('/')[4])
    const receipts = memoryReceipts() // what b persists (localStorage in browsers)
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes(), delivery: 'confirmed', minBackoff: 50, maxBackoff: 500 })
    live.messengers.push(ma)
    let mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes(), delivery: 'confirmed', receipts })
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    const n = 3000
    for (let i = 0; i < n; i++) ma.send(b.peerId, numbered(i))
    const seen: number[] = []
    for (let restart = 0; restart < 2; restart++) {
      while (seen.length < (restart + 1) * 1000) seen.push(number((await mb.receive()).data))
      // b goes away with messages in flight and buffered, and comes back
      await mb.stop()
      await b.stop()
      b = await nodeWithKey(keyB, port)
      mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes(), delivery: 'confirmed', receipts })
      await mb.ready
    }
    live.messengers.push(mb)
    while (seen.length < n) seen.push(number((await mb.receive({ signal: AbortSignal.timeout(20_000) })).data))
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i))
    await expect(mb.receive({ signal: AbortSignal.timeout(500) })).rejects.toMatchObject({ name: 'TimeoutError' })
  })
})

describe('durable outbox', () => {
  async function restartable (store: OutboxStore, delivery: 'default' | 'confirmed', key: PrivateKey): Promise<{ node: TestNode, m: Messenger<Uint8Array> }> {
    const node = await nodeWithKey(key)
    const outbox = await openOutbox(store)
    const m = createMessenger<Uint8Array>(node, { protocol: PROTOCOL, codec: bytes(), outbox, delivery, minBackoff: 50, maxBackoff: 500 })
    live.messengers.push(m)
    await m.ready
    return { node, m }
  }

  for (const delivery of ['default', 'confirmed'] as const) {
    it(`${delivery} mode: messages queued to an offline peer survive a sender restart and arrive once, in order`, async () => {
      const store = memoryOutboxStore()
      const keyA = await generateKeyPair('Ed25519')
      const keyB = await generateKeyPair('Ed25519')
      const b0 = await nodeWithKey(keyB)
      const bAddr = b0.getMultiaddrs()
      const bPort = Number(bAddr[0].toString().split('/')[4])
      await b0.stop()

      // session 1: b is offline; queue 300, make sure they are stored, stop
      const s1 = await restartable(store, delivery, keyA)
      for (let i = 0; i < 300; i++) s1.m.send(b0.peerId, numbered(i))
      await s1.m.flush()
      expect(store.records.size).toBe(300)
      await s1.m.stop()
      await s1.node.stop()
      expect(store.records.size).toBe(300)

      // session 2: the sender comes back with the same identity and store; so does b
      const b = await nodeWithKey(keyB, bPort)
      const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes(), delivery })
      live.messengers.push(mb)
      await mb.ready
      const s2 = await restartable(store, delivery, keyA)
      await introduce(s2.node, b)
      const got: number[] = []
      while (got.length < 300) got.push(number((await mb.receive({ signal: AbortSignal.timeout(20_000) })).data))
      expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i))
      await s2.m.flush()
      await until(() => store.records.size === 0, 5000, 'records deleted once sent')
      // new messages continue the sequence after the restored ones
      expect(s2.m.send(b.peerId, numbered(300))).toBe(301)
      expect(number((await mb.receive({ signal: AbortSignal.timeout(5000) })).data)).toBe(300)
    })
  }

  it('a record is deleted only after its message was sent; an expired one is deleted with an "expired" drop', async () => {
    const store = memoryOutboxStore()
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const outbox = await openOutbox(store)
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes(), outbox, queueTtl: 500, minBackoff: 50 })
    live.messengers.push(ma)
    await ma.ready
    await b.stop()
    for (let i = 0; i < 10; i++) ma.send(b.peerId, numbered(i))
    await ma.flush()
    expect(store.records.size).toBe(10)
    const drops: string[] = []
    ma.addEventListener('drop', (e) => drops.push(e.detail.reason))
    await until(() => drops.length > 0, 5000, 'expiry')
    expect(drops).toEqual(['expired'])
    await ma.flush()
    expect(store.records.size).toBe(0)
  })

  it('storage failures are reported, messages still go out, and nothing is lost once storage recovers', async () => {
    const inner = memoryOutboxStore()
    let failing = true
    const flaky: OutboxStore = {
      load: async () => inner.load(),
      write: async (batch) => { if (failing) throw Object.assign(new Error('The quota has been exceeded'), { name: 'QuotaExceededError' }); await inner.write(batch) },
      close: () => {}
    }
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const outbox = await openOutbox(flaky, { minRetry: 20, maxRetry: 100 })
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes(), outbox, delivery: 'confirmed' })
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes(), delivery: 'confirmed' })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    const errors: ErrorDetail[] = []
    ma.addEventListener('error', (e) => errors.push(e.detail))
    await introduce(a, b)
    for (let i = 0; i < 50; i++) ma.send(b.peerId, numbered(i))
    for (let i = 0; i < 50; i++) expect(number((await mb.receive()).data)).toBe(i)
    await until(() => errors.length > 0, 5000, 'storage error event')
    expect(errors[0]).toMatchObject({ channel: 'outbox' })
    expect(errors[0].error.name).toBe('StorageError')
    failing = false
    await ma.flush()
    await until(() => ma.pending() === 0, 5000, 'acks')
    await ma.flush()
    expect(inner.records.size).toBe(0)
  })
})
