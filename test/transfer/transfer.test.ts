/**
 * File transfers between real libp2p nodes over TCP: whole payloads arrive
 * byte-identical, offers, cancellation from either side, integrity, flow
 * control and resumption after a connection is killed and after the
 * receiver restarts on a persistent store.
 */
import 'fake-indexeddb/auto'
import { describe, it, expect } from 'vitest'
import { createMessenger, string, type Messenger } from '../../src/index.js'
import {
  createTransfers, indexedDBTransferStore, memoryTransferStore, DEFAULT_WINDOW, TransferCancelledError,
  TransferIntegrityError, TransferRejectedError, TransferProtocolError, MessengerStoppedError,
  type TransferOffer, type TransferProgress, type Transfers, type TransfersInit, type TransferStore
} from '../../src/transfer/index.js'
import { transferCodec, OFFER, ACCEPT, CHUNK, END, CANCEL_RECEIVE, type TransferMessage } from '../../src/transfer/wire.js'
import { rootDigest, sha256 } from '../../src/transfer/digest.js'
import { createNodes, connect, until, stopAfterEach, type TestNode } from '../helpers/nodes.js'

const PROTOCOL = '/test-transfer/1.0.0'
const MB = 1024 * 1024

const live = stopAfterEach()

/** Deterministic pseudo-random bytes (xorshift), so a shifted or repeated chunk never matches. */
function payload (size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
    out[i + 1] = (x >>> 8) & 0xff
    out[i + 2] = (x >>> 16) & 0xff
    out[i + 3] = (x >>> 24) & 0xff
  }
  return out
}

async function bytesOf (blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer())
}

function same (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}

interface Pair {
  nodes: TestNode[]
  ms: Array<Messenger<string>>
  ts: Transfers[]
}

async function setup (init: TransfersInit = {}, receiverInit: TransfersInit = init): Promise<Pair> {
  const nodes = live.nodes = await createNodes(2)
  const ms = nodes.map(node => createMessenger<string>(node, { protocol: PROTOCOL, codec: string() }))
  const ts = [createTransfers(ms[0], { retryInterval: 1_000, ...init }), createTransfers(ms[1], { retryInterval: 1_000, ...receiverInit })]
  live.messengers.push(...ts, ...ms)
  await Promise.all(ms.map(async m => m.ready))
  await connect(nodes[0], nodes[1])
  return { nodes, ms, ts }
}

/** The next offer on `t`. */
async function nextOffer (t: Transfers): Promise<TransferOffer> {
  return new Promise(resolve => {
    t.addEventListener('offer', (e) => { resolve(e.detail) }, { once: true })
  })
}

function recordProgress (target: { addEventListener: (type: 'progress', fn: (e: CustomEvent<TransferProgress>) => void) => void }): TransferProgress[] {
  const seen: TransferProgress[] = []
  target.addEventListener('progress', (e) => { seen.push(e.detail) })
  return seen
}

function expectMonotonic (seen: TransferProgress[], size: number): void {
  expect(seen.length).toBeGreaterThan(2)
  for (let i = 1; i < seen.length; i++) {
    expect(seen[i].bytes).toBeGreaterThan(seen[i - 1].bytes)
  }
  expect(seen[seen.length - 1].bytes).toBe(size)
  expect(seen[seen.length - 1].total).toBe(size)
}

describe('transfers', () => {
  it('20 MB arrive byte-identical, with progress rising on both sides', async () => {
    const { nodes: [, b], ts: [ta, tb] } = await setup()
    const data = payload(20 * MB)
    const offered = nextOffer(tb)
    const out = ta.send(b.peerId, new Blob([data as Uint8Array<ArrayBuffer>], { type: 'application/x-test' }), { name: 'big.bin', meta: { chat: 'lobby' } })
    const sent = recordProgress(out)
    const offer = await offered
    expect(offer).toMatchObject({ name: 'big.bin', type: 'application/x-test', size: 20 * MB, meta: { chat: 'lobby' }, resumed: false, bytes: 0 })
    expect(offer.peer.equals(live.nodes[0].peerId)).toBe(true)
    const incoming = offer.accept()
    const received = recordProgress(incoming)
    const [blob] = await Promise.all([incoming.done, out.done])
    expect(blob.type).toBe('application/x-test')
    expect(same(await bytesOf(blob), data)).toBe(true)
    expectMonotonic(sent, 20 * MB)
    expectMonotonic(received, 20 * MB)
    // nothing sent twice on a healthy connection
    expect(out.stats).toMatchObject({ chunks: 320, repeated: 0 })
    expect(incoming.stats).toMatchObject({ chunks: 320, repeated: 0 })
    expect(ta.list()).toHaveLength(0)
    expect(tb.list()).toHaveLength(0)
  })

  it('sends a ReadableStream of unknown size, re-chunked', async () => {
    const { nodes: [, b], ts: [ta, tb] } = await setup({ chunkSize: 1000 })
    const data = payload(123_457)
    let offset = 0
    const stream = new ReadableStream<Uint8Array>({
      pull (controller) {
        if (offset >= data.byteLength) { controller.close(); return }
        const n = 1 + (offset % 3333)
        controller.enqueue(data.slice(offset, offset + n))
        offset += n
      }
    })
    const offered = nextOffer(tb)
    const out = ta.send(b.peerId, stream, { name: 's.bin' })
    const offer = await offered
    expect(offer.size).toBeUndefined()
    const incoming = offer.accept()
    const [blob] = await Promise.all([incoming.done, out.done])
    expect(same(await bytesOf(blob), data)).toBe(true)
    expect(out.stats.chunks).toBe(124)
    expect(incoming.progress).toMatchObject({ bytes: 123_457, total: 123_457 })
  })

  it('an empty payload arrives as an empty Blob', async () => {
    const { nodes: [, b], ts: [ta, tb] } = await setup()
    tb.addEventListener('offer', (e) => { void e.detail.accept().done.then(blob => { got = blob }) })
    let got: Blob | undefined
    await ta.send(b.peerId, new Uint8Array(0), { name: 'empty' }).done
    await until(() => got != null)
    expect(got?.size).toBe(0)
  })

  it('a chat message sent during a transfer arrives before the transfer ends', async () => {
    const { nodes: [a, b], ms: [ma, mb], ts: [ta, tb] } = await setup()
    const data = payload(20 * MB, 7)
    tb.addEventListener('offer', (e) => { e.detail.accept() })
    const out = ta.send(b.peerId, data, { name: 'big.bin' })
    let ended = false
    void out.done.then(() => { ended = true })
    await until(() => out.progress.bytes > 2 * MB, 30_000, 'the transfer to start')
    const t0 = performance.now()
    ma.send(b.peerId, 'hello while transferring')
    const msg = await mb.receive({ signal: AbortSignal.timeout(30_000) })
    console.info('chat latency during a 20 MB transfer: %s ms (transfer at %d MB)', (performance.now() - t0).toFixed(1), Math.round(out.progress.bytes / MB))
    expect(msg.data).toBe('hello while transferring')
    expect(msg.from.equals(a.peerId)).toBe(true)
    expect(ended).toBe(false)
    await out.done
  })

  it('a rejected offer fails the sender with the reason, and no chunk flows', async () => {
    const { nodes: [, b], ts: [ta, tb] } = await setup()
    tb.addEventListener('offer', (e) => {
      expect(e.detail.size).toBe(5 * MB)
      e.detail.reject('too large for this chat')
    })
    const out = ta.send(b.peerId, payload(5 * MB), { name: 'big.bin' })
    const err = await out.done.catch((e: Error) => e)
    expect(err).toBeInstanceOf(TransferRejectedError)
    expect((err as TransferRejectedError).reason).toBe('too large for this chat')
    expect(out.stats.chunks).toBe(0)
  })

  it('an offer with no listener is rejected', async () => {
    const { nodes: [, b], ts: [ta] } = await setup()
    const err = await ta.send(b.peerId, payload(1000), { name: 'x' }).done.catch((e: Error) => e)
    expect(err).toBeInstanceOf(TransferRejectedError)
  })

  it('the sender cancels: its signal reason here, TransferCancelledError there', async () => {
    const { nodes: [, b], ts: [ta, tb] } = await setup()
    const controller = new AbortController()
    const offered = nextOffer(tb)
    const out = ta.send(b.peerId, payload(20 * MB), { name: 'big.bin', signal: controller.signal })
    const incoming = (await offered).accept()
    await until(() => incoming.progress.bytes > MB, 30_000, 'chunks')
    controller.abort(new Error('user cancelled'))
    const [here, there] = await Promise.all([out.done.catch((e: Error) => e), incoming.done.catch((e: Error) => e)])
    expect((here as Error).message).toBe('user cancelled')
    expect(there).toBeInstanceOf(TransferCancelledError)
    expect((there as TransferCancelledError).reason).toBe('user cancelled')
    expect(incoming.progress.bytes).toBeLessThan(20 * MB)
    await until(() => ta.list().length === 0 && tb.list().length === 0)
  })

  it('the receiver cancels: its signal reason there, TransferCancelledError here', async () => {
    const { nodes: [, b], ts: [ta, tb] } = await setup()
    const controller = new AbortController()
    const offered = nextOffer(tb)
    const out = ta.send(b.peerId, payload(20 * MB), { name: 'big.bin' })
    const incoming = (await offered).accept({ signal: controller.signal })
    await until(() => incoming.progress.bytes > MB, 30_000, 'chunks')
    controller.abort(new Error('no room'))
    const [here, there] = await Promise.all([out.done.catch((e: Error) => e), incoming.done.catch((e: Error) => e)])
    expect(here).toBeInstanceOf(TransferCancelledError)
    expect((here as TransferCancelledError).reason).toBe('no room')
    expect((there as Error).message).toBe('no room')
    expect(out.progress.bytes).toBeLessThan(20 * MB)
  })

  it('a store that corrupts a chunk: TransferIntegrityError on both sides', async () => {
    const inner = memoryTransferStore()
    const corrupting: TransferStore = {
      ...inner,
      get: async (id, index) => {
        const bytes = await inner.get(id, index)
        if (index !== 3) return bytes
        const copy = bytes.slice()
        copy[100] ^= 1
        return copy
      }
    }
    const { nodes: [, b], ts: [ta, tb] } = await setup({}, { store: corrupting })
    const offered = nextOffer(tb)
    const out = ta.send(b.peerId, payload(MB), { name: 'x' })
    const incoming = (await offered).accept()
    const [here, there] = await Promise.all([out.done.catch((e: Error) => e), incoming.done.catch((e: Error) => e)])
    expect(there).toBeInstanceOf(TransferIntegrityError)
    expect(here).toBeInstanceOf(TransferIntegrityError)
    // the corrupt partial data is gone
    await until(() => true)
    expect(await inner.list()).toHaveLength(0)
  })

  it('a hostile sender whose bytes do not match its digest: TransferIntegrityError', async () => {
    const nodes = live.nodes = await createNodes(2)
    const [a, b] = nodes
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string() })
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    // the hostile side speaks the wire format by hand
    const raw = ma.channel<TransferMessage>('transfer', { codec: transferCodec })
    const tb = createTransfers(mb)
    live.messengers.push(tb, ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await connect(a, b)
    const chunkSize = 1024
    const honest = payload(4 * chunkSize)
    const sent = honest.slice()
    sent[2 * chunkSize + 5] ^= 0xff
    // the digest of the honest bytes, the bytes of another payload
    const digests = await Promise.all([0, 1, 2, 3].map(async i => sha256(honest.subarray(i * chunkSize, (i + 1) * chunkSize))))
    const digest = await rootDigest(digests)
    const offered = nextOffer(tb)
    raw.send(b.peerId, { kind: OFFER, id: 'hostile-1', name: 'x', type: '', size: sent.byteLength, chunkSize, digest })
    const incoming = (await offered).accept()
    const accepted = await raw.receive({ signal: AbortSignal.timeout(10_000) })
    expect(accepted.data.kind).toBe(ACCEPT)
    for (let i = 0; i < 4; i++) {
      raw.send(b.peerId, { kind: CHUNK, id: 'hostile-1', index: i, data: sent.subarray(i * chunkSize, (i + 1) * chunkSize) })
    }
    raw.send(b.peerId, { kind: END, id: 'hostile-1', chunks: 4, size: sent.byteLength, digest })
    const err = await incoming.done.catch((e: Error) => e)
    expect(err).toBeInstanceOf(TransferIntegrityError)
    // and the hostile sender is told
    for (;;) {
      const { data } = await raw.receive({ signal: AbortSignal.timeout(10_000) })
      if (data.kind === CANCEL_RECEIVE) {
        expect(data.code).toBe('integrity')
        break
      }
    }
  })

  it('a sender ignoring the window cannot make the receiver queue writes without bound', async () => {
    const nodes = live.nodes = await createNodes(2)
    const [a, b] = nodes
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string() })
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    const raw = ma.channel<TransferMessage>('transfer', { codec: transferCodec })
    // a store that never finishes a write: nothing is ever acknowledged
    const stuck: TransferStore = { ...memoryTransferStore(), put: async () => { await new Promise(() => {}) } }
    const tb = createTransfers(mb, { store: stuck })
    live.messengers.push(tb, ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await connect(a, b)
    const offered = nextOffer(tb)
    raw.send(b.peerId, { kind: OFFER, id: 'flood-1', name: 'x', type: '', size: 1000 * 100, chunkSize: 100 })
    const incoming = (await offered).accept()
    await raw.receive({ signal: AbortSignal.timeout(10_000) })
    for (let i = 0; i < 200; i++) {
      raw.send(b.peerId, { kind: CHUNK, id: 'flood-1', index: i, data: new Uint8Array(100) })
    }
    const err = await incoming.done.catch((e: Error) => e)
    expect(err).toBeInstanceOf(TransferProtocolError)
    expect(incoming.stats.chunks).toBeLessThanOrEqual(200)
  })

  it('neither side holds more than the window: the sender keeps at most `window` chunks unacknowledged', async () => {
    const { nodes: [, b], ts: [ta, tb] } = await setup({ window: 4, chunkSize: 16 * 1024 })
    const offered = nextOffer(tb)
    const out = ta.send(b.peerId, payload(4 * MB), { name: 'x' })
    const incoming = (await offered).accept()
    // chunks sent beyond those acknowledged, and received beyond those stored, seen at every event
    let sentAhead = 0
    let receivedAhead = 0
    out.addEventListener('progress', () => {
      sentAhead = Math.max(sentAhead, out.stats.chunks - out.progress.bytes / (16 * 1024))
    })
    incoming.addEventListener('progress', () => {
      receivedAhead = Math.max(receivedAhead, incoming.stats.chunks - incoming.progress.bytes / (16 * 1024))
    })
    await Promise.all([incoming.done, out.done])
    expect(sentAhead).toBeLessThanOrEqual(4)
    expect(receivedAhead).toBeLessThanOrEqual(4)
  })

  it('a connection killed mid-transfer resumes without sending acknowledged chunks again', async () => {
    const { nodes: [a, b], ts: [ta, tb] } = await setup()
    const data = payload(20 * MB, 3)
    const offered = nextOffer(tb)
    const out = ta.send(b.peerId, data, { name: 'big.bin' })
    const incoming = (await offered).accept()
    const sent = recordProgress(out)
    await until(() => out.progress.bytes > 6 * MB, 30_000, 'a third of the transfer')
    const ackedAtKill = out.progress.bytes / (64 * 1024)
    const sentAtKill = out.stats.chunks
    for (const conn of a.getConnections(b.peerId)) {
      conn.abort(new Error('killed by the test'))
    }
    const [blob] = await Promise.all([incoming.done, out.done])
    expect(same(await bytesOf(blob), data)).toBe(true)
    expectMonotonic(sent, 20 * MB)
    // only chunks unacknowledged when the connection died went again (those in flight: at most a
    // window), never the acknowledged ones
    expect(out.stats.resumes).toBeGreaterThanOrEqual(1)
    expect(out.stats.chunks).toBe(320 + out.stats.repeated)
    expect(out.stats.repeated).toBeLessThanOrEqual(DEFAULT_WINDOW)
    expect(out.stats.chunks - sentAtKill).toBeLessThanOrEqual(320 - ackedAtKill)
    expect(sentAtKill - ackedAtKill).toBeLessThanOrEqual(DEFAULT_WINDOW)
    console.info('killed mid-transfer: %d chunks re-sent, %d resumes', out.stats.repeated, out.stats.resumes)
  })

  it('a receiver restarted on an IndexedDB store resumes from the chunks it had', async () => {
    const name = `transfers-${Math.random()}`
    const store = indexedDBTransferStore({ name })
    const { nodes: [a, b], ms: [, mb], ts: [ta, tb] } = await setup({}, { store })
    const data = payload(8 * MB, 5)
    const offered = nextOffer(tb)
    const out = ta.send(b.peerId, new Blob([data as Uint8Array<ArrayBuffer>]), { name: 'big.bin' })
    const first = (await offered).accept()
    await until(() => first.progress.bytes > 3 * MB, 30_000, 'some chunks stored')
    // the receiver's application goes away (as in a reload): no cancel reaches the sender
    await tb.stop()
    await mb.stop()
    expect(await first.done.catch((e: Error) => e)).toBeInstanceOf(MessengerStoppedError)
    const storedBefore = first.progress.bytes
    // and comes back on the same store
    const mb2 = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    const tb2 = createTransfers(mb2, { store: indexedDBTransferStore({ name }), retryInterval: 1_000 })
    live.messengers.unshift(tb2, mb2)
    const restored = await nextOffer(tb2)
    expect(restored).toMatchObject({ id: out.id, name: 'big.bin', size: 8 * MB, resumed: true })
    expect(restored.bytes).toBeGreaterThanOrEqual(storedBefore)
    expect(restored.peer.equals(a.peerId)).toBe(true)
    const second = restored.accept()
    const [blob] = await Promise.all([second.done, out.done])
    expect(same(await bytesOf(blob), data)).toBe(true)
    // the sender sent the chunks the old receiver had not stored, not the whole file again
    expect(out.stats.chunks).toBeLessThanOrEqual(128 + DEFAULT_WINDOW * 2)
    expect(second.stats.chunks).toBeLessThanOrEqual(128 - restored.bytes / (64 * 1024) + DEFAULT_WINDOW * 2)
    expect(await store.list()).toHaveLength(0)
  })

  it('a sender restarted mid-transfer resumes with the same id and source: only what the receiver lacks is sent', async () => {
    const { nodes: [a, b], ms: [ma], ts: [ta, tb] } = await setup()
    const data = payload(8 * MB, 11)
    const blob = new Blob([data as Uint8Array<ArrayBuffer>])
    const offered = nextOffer(tb)
    const first = ta.send(b.peerId, blob, { name: 'big.bin' })
    const incoming = (await offered).accept()
    await until(() => incoming.progress.bytes > 3 * MB, 30_000, 'some chunks stored')
    // the sender's application goes away (a reload): the receiver is not told
    await ta.stop()
    await ma.stop()
    expect(await first.done.catch((e: Error) => e)).toBeInstanceOf(MessengerStoppedError)
    const storedBefore = incoming.progress.bytes
    // and comes back with the id it kept and the same file
    const ma2 = createMessenger<string>(a, { protocol: PROTOCOL, codec: string() })
    const ta2 = createTransfers(ma2, { retryInterval: 1_000 })
    live.messengers.unshift(ta2, ma2)
    const again = ta2.send(b.peerId, blob, { name: 'big.bin', id: first.id })
    const [got] = await Promise.all([incoming.done, again.done])
    expect(same(await bytesOf(got), data)).toBe(true)
    // no new offer reached the receiving application, and the first chunks were not sent again
    expect(tb.list()).toHaveLength(0)
    expect(again.stats.chunks).toBeLessThanOrEqual(128 - Math.floor(storedBefore / (64 * 1024)) + DEFAULT_WINDOW)
    expect(again.stats.resumes).toBe(1)
  })

  it('a receiver restarted without a persistent store: the sender of a Blob offers it again from the start', async () => {
    const { nodes: [a, b], ms: [, mb], ts: [ta, tb] } = await setup()
    const data = payload(4 * MB, 13)
    const offered = nextOffer(tb)
    const out = ta.send(b.peerId, new Blob([data as Uint8Array<ArrayBuffer>]), { name: 'again.bin' })
    const first = (await offered).accept()
    await until(() => first.progress.bytes > MB, 30_000, 'some chunks stored')
    await tb.stop()
    await mb.stop()
    const mb2 = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    const tb2 = createTransfers(mb2, { retryInterval: 1_000 })
    live.messengers.unshift(tb2, mb2)
    // the sender hears 'no such transfer' and offers it again: a new offer, from zero
    const again = await nextOffer(tb2)
    expect(again).toMatchObject({ id: out.id, resumed: false, bytes: 0 })
    expect(again.peer.equals(a.peerId)).toBe(true)
    const second = again.accept()
    const [blob] = await Promise.all([second.done, out.done])
    expect(same(await bytesOf(blob), data)).toBe(true)
    expect(out.stats.resumes).toBeGreaterThanOrEqual(1)
  })
})
