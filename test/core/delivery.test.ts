/**
 * Delivery defects found by outside users (issue 10), each reproduced here
 * against real libp2p nodes — stock writers where the defect involved one —
 * and kept as a regression test.
 */
import { describe, it, expect } from 'vitest'
import { lpStream } from '@libp2p/utils'
import { createMessenger, bytes, string, type DropDetail } from '../../src/index.js'
import { createNodes, connect, introduce, until, stopAfterEach } from '../helpers/nodes.js'
import type { Stream } from '@libp2p/interface'

const PROTOCOL = '/delivery-test/1.0.0'

const live = stopAfterEach()

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

function numbered (i: number, size = 100): Uint8Array {
  const out = new Uint8Array(size)
  new DataView(out.buffer).setUint32(0, i)
  return out
}

function number (data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset).getUint32(0)
}

function streamsOf (node: { getConnections: () => Array<{ streams: Stream[] }> }, protocol: string): Stream[] {
  return node.getConnections().flatMap(c => c.streams).filter(s => s.protocol === protocol)
}

describe('a paused inbound stream closed gracefully keeps what it buffered (defect 1)', () => {
  it('a stock writer sends 3,000 frames and closes while the application reads slowly: 3,000 arrive', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes() })
    live.messengers.push(mb)
    await mb.ready
    await connect(a, b)
    const stream = await a.dialProtocol(b.peerId, PROTOCOL)
    const lp = lpStream(stream)
    const n = 3_000
    for (let i = 0; i < n; i++) await lp.write(numbered(i))
    await stream.close()
    const got: number[] = []
    for (let i = 0; i < n; i++) {
      got.push(number((await mb.receive({ signal: AbortSignal.timeout(5_000) })).data))
      if (i % 100 === 0) await sleep(5)
    }
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i))
  })

  it('SDK to SDK, the sender closes idle streams after 1 s, the application is slower: all 1,500 arrive', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes(), idleTimeout: 1_000 })
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    const n = 1_500
    const sent: number[] = []
    ma.addEventListener('sent', (e) => { for (let s = e.detail.first; s <= e.detail.last; s++) sent.push(s) })
    for (let i = 0; i < n; i++) ma.send(b.peerId, numbered(i, 4096))
    // the application takes one message every 2 ms: the sender's stream goes idle and closes meanwhile
    const got: number[] = []
    for (let i = 0; i < n; i++) {
      got.push(number((await mb.receive({ signal: AbortSignal.timeout(5_000) })).data))
      await sleep(2)
    }
    expect(sent).toHaveLength(n)
    expect(streamsOf(a, PROTOCOL)).toHaveLength(0)
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i))
  })

  it('a newer stream waiting behind an older one, one frame then closed: its frame arrives, after the older stream\'s', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(mb)
    await mb.ready
    await connect(a, b)
    const older = lpStream(await a.dialProtocol(b.peerId, PROTOCOL))
    await older.write(new TextEncoder().encode('first'))
    const newerStream = await a.dialProtocol(b.peerId, PROTOCOL)
    await lpStream(newerStream).write(new TextEncoder().encode('second'))
    await newerStream.close()
    expect((await mb.receive({ signal: AbortSignal.timeout(5_000) })).data).toBe('first')
    await sleep(200)
    await older.unwrap().close()
    expect((await mb.receive({ signal: AbortSignal.timeout(5_000) })).data).toBe('second')
  })
})

describe('the handover timeout abandons the silent stream and only that one (defect 2)', () => {
  it('three streams: the second is read to its end before the third, in order', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes(), handoverTimeout: 300 })
    live.messengers.push(mb)
    await mb.ready
    await connect(a, b)
    const got: number[] = []
    const reading = (async () => { for await (const { data } of mb) got.push(number(data)) })()
    const s1 = await a.dialProtocol(b.peerId, PROTOCOL)
    const w1 = lpStream(s1)
    for (let i = 0; i < 100; i++) await w1.write(numbered(i))
    const s2 = await a.dialProtocol(b.peerId, PROTOCOL)
    const w2 = lpStream(s2)
    for (let i = 100; i < 200; i++) await w2.write(numbered(i))
    const s3 = await a.dialProtocol(b.peerId, PROTOCOL)
    const w3 = lpStream(s3)
    for (let i = 300; i < 400; i++) await w3.write(numbered(i))
    // s1 is silent: after the handover timeout s2 is read; s3 must wait for s2 to end
    await until(() => got.length >= 200, 5_000, 's2 to be read')
    // s2 keeps writing for three handover timeouts, never silent for long: s3 waits all along
    for (let i = 200; i < 300; i++) {
      await w2.write(numbered(i))
      if (i % 10 === 9) await sleep(100)
    }
    await s2.close()
    await until(() => got.length >= 400, 5_000, 's3 to be read')
    expect(got).toEqual(Array.from({ length: 400 }, (_, i) => i))
    void reading
  })

  it('abandoned streams of a peer that went silent are reset; only the newest stays', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes(), handoverTimeout: 200 })
    live.messengers.push(mb)
    await mb.ready
    await connect(a, b)
    const streams: Stream[] = []
    for (let k = 0; k < 4; k++) {
      const s = await a.dialProtocol(b.peerId, PROTOCOL)
      await lpStream(s).write(numbered(k))
      streams.push(s)
    }
    // nothing more is written: every stream but the newest is abandoned within a few timeouts
    await until(() => streamsOf(b, PROTOCOL).length === 1, 5_000, 'abandoned streams to be reset')
    await until(() => streams.slice(0, 3).every(s => s.status !== 'open'), 2_000, 'the writer to see the resets')
    expect(streams[3].status).toBe('open')
  })

  it('a stream let in by a handover is still held to the per-peer inbound cap', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes(), handoverTimeout: 200, maxInboundMessages: 1_000 })
    live.messengers.push(mb)
    await mb.ready
    await connect(a, b)
    const s1 = await a.dialProtocol(b.peerId, PROTOCOL)
    await lpStream(s1).write(numbered(0, 32 * 1024))
    const s2 = await a.dialProtocol(b.peerId, PROTOCOL)
    const w2 = lpStream(s2)
    const s3 = await a.dialProtocol(b.peerId, PROTOCOL)
    await lpStream(s3).write(numbered(1, 32 * 1024))
    // the application reads nothing; s2 floods once the handover lets it in
    const flooding = (async () => {
      for (let i = 2; i < 2_500; i++) await w2.write(numbered(i, 32 * 1024), { signal: AbortSignal.timeout(10_000) })
    })().catch(() => {})
    // the flood reaches the cap (16 MiB: 512 messages of 32 KiB); then it stops there,
    // however long the application reads nothing
    const inbox = (): number => (mb as any).inbox.length
    await until(() => inbox() >= 500, 20_000, 'the flood to reach the cap')
    await sleep(1_000)
    expect(inbox() * 32 * 1024).toBeLessThanOrEqual(16 * 1024 * 1024 + 32 * 1024)
    void flooding
  })
})

describe('drop events name exactly the dropped messages (defect 3)', () => {
  it('refused sends are counted, never numbered with a sequence number that is later used', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string(), maxQueuedMessages: 5 })
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    const drops: DropDetail[] = []
    ma.addEventListener('drop', (e) => drops.push(e.detail))
    // b's address is not known yet: nothing leaves, the queue fills
    const seqs: number[] = []
    for (let i = 0; i < 8; i++) seqs.push(ma.send(b.peerId, `m${i}`))
    expect(seqs).toEqual([1, 2, 3, 4, 5, -1, -1, -1])
    await sleep(10)
    await introduce(a, b)
    const got: string[] = []
    for (let i = 0; i < 5; i++) got.push((await mb.receive({ signal: AbortSignal.timeout(5_000) })).data)
    seqs.push(ma.send(b.peerId, 'm8'))
    got.push((await mb.receive({ signal: AbortSignal.timeout(5_000) })).data)
    expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm8'])
    expect(seqs[8]).toBe(6)
    expect(drops.reduce((n, d) => n + d.count, 0)).toBe(3)
    const used = new Set(seqs.filter(s => s > 0))
    for (const d of drops) {
      expect(d.reason).toBe('queue-full')
      if (d.first != null && d.last != null) {
        expect(d.last - d.first + 1).toBe(d.count)
        for (let s = d.first; s <= d.last; s++) expect(used.has(s)).toBe(false)
      }
    }
  })

  it('a burst into a full queue: the counts add up and no numbered range covers a delivered message', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string(), maxQueuedMessages: 8 })
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    const drops: DropDetail[] = []
    ma.addEventListener('drop', (e) => drops.push(e.detail))
    const seqs: number[] = []
    for (let i = 0; i < 515; i++) seqs.push(ma.send(b.peerId, `m${i}`))
    await introduce(a, b)
    for (let i = 0; i < 8; i++) await mb.receive({ signal: AbortSignal.timeout(5_000) })
    for (let i = 0; i < 7; i++) seqs.push(ma.send(b.peerId, `late${i}`))
    for (let i = 0; i < 7; i++) await mb.receive({ signal: AbortSignal.timeout(5_000) })
    const refused = seqs.filter(s => s < 0).length
    expect(refused).toBe(507)
    expect(drops.reduce((n, d) => n + d.count, 0)).toBe(refused)
    const used = new Set(seqs.filter(s => s > 0))
    expect(used.size).toBe(15)
    for (const d of drops) {
      if (d.first != null && d.last != null) {
        for (let s = d.first; s <= d.last; s++) expect(used.has(s)).toBe(false)
      }
    }
  })
})

describe('waiting for drain leaves no listeners behind (defect 5)', () => {
  it('2,000 messages of 64 KiB on one stream: drain and idle listeners stay at a small constant', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes() })
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    ma.send(b.peerId, numbered(0, 64 * 1024))
    await mb.receive({ signal: AbortSignal.timeout(5_000) })
    const [stream] = streamsOf(a, PROTOCOL)
    const base = { drain: stream.listenerCount('drain'), idle: stream.listenerCount('idle') }
    let maxDrain = 0
    let maxIdle = 0
    const n = 2_000
    let received = 1
    const reading = (async () => {
      for await (const _ of mb) {
        if (++received === n) break
      }
    })()
    for (let i = 1; i < n; i++) {
      ma.send(b.peerId, numbered(i, 64 * 1024))
      if (i % 50 === 0) {
        await sleep(1)
        maxDrain = Math.max(maxDrain, stream.listenerCount('drain'))
        maxIdle = Math.max(maxIdle, stream.listenerCount('idle'))
      }
      while (ma.pending(b.peerId) > 200) await sleep(1)
    }
    await reading
    expect(streamsOf(a, PROTOCOL)[0]).toBe(stream)
    maxDrain = Math.max(maxDrain, stream.listenerCount('drain'))
    maxIdle = Math.max(maxIdle, stream.listenerCount('idle'))
    expect(maxDrain).toBeLessThanOrEqual(base.drain + 1)
    expect(maxIdle).toBeLessThanOrEqual(base.idle + 1)
  })
})
