/**
 * The core messenger between real libp2p nodes over TCP: the Go library's
 * tests, ported, and more.
 */
import { describe, it, expect } from 'vitest'
import { createMessenger, bytes, string, json, MessageTooLargeError, QueueFullError, type Messenger, type DropDetail } from '../../src/index.js'
import { ChatMessage } from '../fixtures/chat.js'
import { createNodes, connect, introduce, until, stopAll, stopAfterEach, type TestNode } from '../helpers/nodes.js'
import type { PeerId } from '@libp2p/interface'

const PROTOCOL = '/test-messenger/1.0.0'

const live = stopAfterEach()

async function setup<T> (n: number, init: Omit<Parameters<typeof createMessenger<T>>[1], 'protocol'>): Promise<{ nodes: TestNode[], ms: Array<Messenger<T>> }> {
  const nodes = live.nodes = await createNodes(n)
  const ms = nodes.map(node => createMessenger<T>(node, { protocol: PROTOCOL, ...init }))
  live.messengers.push(...ms)
  await Promise.all(ms.map(async m => m.ready))
  return { nodes, ms }
}

async function take<T> (m: AsyncIterable<{ from: PeerId, data: T }>, n: number): Promise<Array<{ from: PeerId, data: T }>> {
  const out: Array<{ from: PeerId, data: T }> = []
  if (n === 0) return out
  for await (const item of m) {
    out.push(item)
    if (out.length === n) break
  }
  return out
}

describe('send and receive', () => {
  it('sends to a connected peer', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<string>(2, { codec: string() })
    await connect(a, b)
    ma.send(b.peerId, 'hello')
    const msg = await mb.receive({ signal: AbortSignal.timeout(5000) })
    expect(msg.data).toBe('hello')
    expect(msg.from.equals(a.peerId)).toBe(true)
    expect(msg.channel).toBe('default')
    expect(msg.protocol).toBe(PROTOCOL)
  })

  it('sends to a peer not yet connected whose addresses are known', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<string>(2, { codec: string() })
    await introduce(a, b)
    expect(a.getConnections(b.peerId)).toHaveLength(0)
    ma.send(b.peerId, 'first')
    ma.send(b.peerId, 'second')
    const got = await take(mb, 2)
    expect(got.map(g => g.data)).toEqual(['first', 'second'])
  })

  it('send() returns at once, with increasing sequence numbers', async () => {
    const { nodes: [, b], ms: [ma] } = await setup<string>(2, { codec: string() })
    const seqs = [ma.send(b.peerId, 'a'), ma.send(b.peerId, 'b'), ma.send(b.peerId, 'c')]
    expect(seqs).toEqual([1, 2, 3])
  })

  it('keeps the order of 10,000 messages, exactly as many as sent', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<Uint8Array>(2, { codec: bytes() })
    await introduce(a, b)
    const n = 10_000
    for (let i = 0; i < n; i++) {
      const msg = new Uint8Array(100)
      new DataView(msg.buffer).setUint32(0, i)
      ma.send(b.peerId, msg)
    }
    const got = await take(mb, n)
    expect(got).toHaveLength(n)
    for (let i = 0; i < n; i++) {
      expect(new DataView(got[i].data.buffer, got[i].data.byteOffset).getUint32(0)).toBe(i)
    }
    // nothing more arrives
    await expect(mb.receive({ signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ name: 'TimeoutError' })
  })

  it('a protons-generated protobuf type plugs in as a codec', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<ChatMessage>(2, { codec: ChatMessage })
    await introduce(a, b)
    const sent: ChatMessage = { author: 'alice', text: 'hi ✓', sentAt: 1234567890123n, attachments: [new Uint8Array([1, 2, 3])] }
    ma.send(b.peerId, sent)
    const { data } = await mb.receive({ signal: AbortSignal.timeout(5000) })
    expect(data).toEqual(sent)
    expect(data.attachments[0].constructor).toBe(Uint8Array)
  })

  it('json codec round trip', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<{ n: number, s: string }>(2, { codec: json() })
    await introduce(a, b)
    ma.send(b.peerId, { n: 1, s: 'x' })
    expect((await mb.receive({ signal: AbortSignal.timeout(5000) })).data).toEqual({ n: 1, s: 'x' })
  })

  it('empty messages are messages too', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<string>(2, { codec: string() })
    await introduce(a, b)
    ma.send(b.peerId, '')
    ma.send(b.peerId, 'after')
    expect((await take(mb, 2)).map(m => m.data)).toEqual(['', 'after'])
  })
})

describe('peers, broadcast, handles', () => {
  it('broadcasts among 4 nodes: every node receives every other node\'s messages once', async () => {
    const { nodes: ns, ms } = await setup<string>(4, { codec: string() })
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) await connect(ns[i], ns[j])
    await until(() => ms.every(m => m.peers().length === 3), 10_000, 'peers to join')
    const per = 50
    const queuedFor = ms.map((m, i) => {
      let peers: PeerId[] = []
      for (let k = 0; k < per; k++) peers = m.broadcast(`${i}:${k}`)
      return peers
    })
    for (const peers of queuedFor) expect(peers).toHaveLength(3)
    const received = await Promise.all(ms.map(async m => take(m, 3 * per)))
    received.forEach((items, i) => {
      for (let j = 0; j < 4; j++) {
        if (j === i) continue
        const fromJ = items.filter(it => it.from.equals(ns[j].peerId)).map(it => it.data)
        expect(fromJ).toEqual(Array.from({ length: per }, (_, k) => `${j}:${k}`))
      }
    })
  })

  it('peers() lists connected peers that speak the protocol, with join and leave events', async () => {
    live.nodes = await createNodes(3)
    const [a, b, c] = live.nodes
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string() })
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    // c runs libp2p but not the protocol
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    const joins: string[] = []
    const leaves: string[] = []
    ma.addEventListener('peer:join', (e) => joins.push(e.detail.toString()))
    ma.addEventListener('peer:leave', (e) => leaves.push(e.detail.toString()))
    await connect(a, b)
    await connect(a, c)
    await until(() => ma.peers().length === 1, 5000, 'b to join')
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(ma.peers().map(p => p.toString())).toEqual([b.peerId.toString()])
    expect(joins).toEqual([b.peerId.toString()])
    await a.hangUp(b.peerId)
    await until(() => leaves.length === 1, 5000, 'b to leave')
    expect(ma.peers()).toHaveLength(0)
    expect(ma.broadcast('nobody')).toEqual([])
  })

  it('a messenger created after connecting still finds the peer', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(mb)
    await mb.ready
    await connect(a, b)
    await new Promise(resolve => setTimeout(resolve, 300))
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(ma)
    await ma.ready
    await until(() => ma.peers().length === 1, 5000, 'existing peer')
  })

  it('per-peer handles take that peer\'s messages; others still reach the messenger', async () => {
    const { nodes: [a, b, c], ms: [ma, mb, mc] } = await setup<string>(3, { codec: string() })
    await introduce(b, a)
    await introduce(c, a)
    const fromB = ma.peer(b.peerId)
    expect(ma.peer(b.peerId)).toBe(fromB)
    // a handle that only sends or watches takes nothing
    mb.send(a.peerId, 'before-receiving')
    expect((await ma.receive({ signal: AbortSignal.timeout(5000) })).data).toBe('before-receiving')
    for (let i = 0; i < 5; i++) { mb.send(a.peerId, `b${i}`); mc.send(a.peerId, `c${i}`) }
    const [handleGot, wideGot] = await Promise.all([take(fromB, 5), take(ma, 5)])
    expect(handleGot.map(m => m.data)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4'])
    expect(wideGot.map(m => m.data)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4'])
    // a handle sends too, and sees its peer's events
    const sent: number[] = []
    const toB = ma.peer(b.peerId)
    toB.addEventListener('sent', (e) => { sent.push(e.detail.last) })
    toB.send('reply')
    expect((await mb.receive({ signal: AbortSignal.timeout(5000) })).data).toBe('reply')
    await until(() => sent.length > 0, 2000, 'sent event')
    expect(toB.connected).toBe(true)
    expect(toB.connection).toBe('direct')
    // closing the handle sends b's messages back to the messenger
    fromB.close()
    mb.send(a.peerId, 'after-close')
    expect((await ma.receive({ signal: AbortSignal.timeout(5000) })).data).toBe('after-close')
  })
})

describe('channels', () => {
  it('several message types, each on its own protocol', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<string>(2, { codec: string() })
    const ca = ma.channel('meta', { codec: json<{ k: number }>() })
    const cb = mb.channel('meta', { codec: json<{ k: number }>() })
    expect(cb.protocol).toBe(`${PROTOCOL}/meta`)
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    ma.send(b.peerId, 'text')
    ca.send(b.peerId, { k: 1 })
    const [t, m] = await Promise.all([mb.receive(), cb.receive()])
    expect(t.data).toBe('text')
    expect(m.data).toEqual({ k: 1 })
    expect(m.channel).toBe('meta')
  })

  it('a slow, large channel does not block another', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<string>(2, { codec: string() })
    const bulkA = ma.channel('bulk', { codec: bytes(), maxQueuedBytes: 64 << 20 })
    const bulkB = mb.channel('bulk', { codec: bytes(), maxInboundMessages: 2 })
    const drops: DropDetail[] = []
    bulkA.addEventListener('drop', (e) => drops.push(e.detail))
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    // 48 MiB of bulk that nobody on b reads yet: b pauses the stream, it stalls
    for (let i = 0; i < 48; i++) bulkA.send(b.peerId, new Uint8Array(1 << 20))
    await new Promise(resolve => setTimeout(resolve, 200))
    for (let i = 0; i < 20; i++) ma.send(b.peerId, `chat ${i}`)
    const chat = await take(mb, 20)
    expect(chat.map(c => c.data)).toEqual(Array.from({ length: 20 }, (_, i) => `chat ${i}`))
    expect(bulkA.pending(b.peerId)).toBeGreaterThan(0)
    // and the bulk still arrives, in full, once read
    const bulk = await take(bulkB, 48)
    expect(bulk.every(m => m.data.byteLength === 1 << 20)).toBe(true)
    expect(drops).toEqual([])
  })

  it('a higher-priority channel writes first', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<string>(2, { codec: string() })
    const lowA = ma.channel('low', { codec: bytes(), priority: -1 })
    const lowB = mb.channel('low', { codec: bytes() })
    await Promise.all([ma.ready, mb.ready])
    await connect(a, b)
    // warm both streams up
    lowA.send(b.peerId, new Uint8Array(1)); ma.send(b.peerId, 'warm')
    await Promise.all([lowB.receive(), mb.receive()])
    const order: string[] = []
    const done = Promise.all([
      take(lowB, 200).then(() => order.push('low')),
      take(mb, 200).then(() => order.push('high'))
    ])
    for (let i = 0; i < 200; i++) lowA.send(b.peerId, new Uint8Array(60_000))
    for (let i = 0; i < 200; i++) ma.send(b.peerId, 'x'.repeat(60_000))
    await done
    expect(order).toEqual(['high', 'low'])
  })
})

describe('limits', () => {
  it('sending a message over the limit throws a typed error synchronously; nothing is queued', async () => {
    const { nodes: [, b], ms: [ma] } = await setup<Uint8Array>(2, { codec: bytes(), maxMessageSize: 1000 })
    expect(() => ma.send(b.peerId, new Uint8Array(1001))).toThrow(MessageTooLargeError)
    expect(() => ma.broadcast(new Uint8Array(1001))).not.toThrow() // nobody connected: nothing to check against
    expect(ma.pending()).toBe(0)
    expect(ma.send(b.peerId, new Uint8Array(1000))).toBe(1)
  })

  it('the receiver enforces its own limit: a larger frame resets the stream, then sending resumes', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes(), maxMessageSize: 10_000 })
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes(), maxMessageSize: 1000 })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    const errors: Error[] = []
    mb.addEventListener('error', (e) => errors.push(e.detail.error))
    ma.send(b.peerId, new Uint8Array(5000))
    await until(() => errors.length > 0, 5000, 'receiver error')
    expect(errors[0].name).toBe('FrameTooLargeError')
    await new Promise(resolve => setTimeout(resolve, 500))
    ma.send(b.peerId, new Uint8Array(10))
    const got = await mb.receive({ signal: AbortSignal.timeout(5000) })
    expect(got.data.byteLength).toBe(10)
  })

  it('a full queue drops the newest with a drop event naming the peer and the count', async () => {
    const { nodes: [, b], ms: [ma] } = await setup<string>(2, { codec: string(), maxQueuedMessages: 10, openTimeout: 60_000 })
    const drops: DropDetail[] = []
    ma.addEventListener('drop', (e) => drops.push(e.detail))
    // b's address is unknown: nothing can be sent, so the queue fills
    await b.stop()
    for (let i = 0; i < 25; i++) ma.send(b.peerId, `m${i}`)
    await new Promise(resolve => setTimeout(resolve, 10))
    expect(drops).toHaveLength(1)
    expect(drops[0].reason).toBe('queue-full')
    expect(drops[0].count).toBe(15)
    // refused messages never got a sequence number: the event names none
    expect(drops[0].first).toBeUndefined()
    expect(drops[0].last).toBeUndefined()
    expect(drops[0].peer.equals(b.peerId)).toBe(true)
    expect(ma.pending(b.peerId)).toBe(10)
  })

  it('queue policy "drop-oldest" keeps the newest; "error" throws', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const oldest = createMessenger<string>(a, { protocol: '/o/1', codec: string(), maxQueuedMessages: 3, queuePolicy: 'drop-oldest' })
    const strict = createMessenger<string>(a, { protocol: '/e/1', codec: string(), maxQueuedMessages: 3, queuePolicy: 'error' })
    const mb = createMessenger<string>(b, { protocol: '/o/1', codec: string() })
    live.messengers.push(oldest, strict, mb)
    await Promise.all([oldest.ready, mb.ready])
    const drops: DropDetail[] = []
    oldest.addEventListener('drop', (e) => drops.push(e.detail))
    for (let i = 0; i < 3; i++) strict.send(b.peerId, 'x')
    expect(() => strict.send(b.peerId, 'x')).toThrow(QueueFullError)
    // nothing can leave until b's address is known: queue 6 into a queue of 3
    for (let i = 0; i < 6; i++) oldest.send(b.peerId, `m${i}`)
    await new Promise(resolve => setTimeout(resolve, 10))
    expect(drops.reduce((n, d) => n + d.count, 0)).toBe(3)
    await introduce(a, b)
    const got = await take(mb, 3)
    expect(got.map(g => g.data)).toEqual(['m3', 'm4', 'm5'])
  })

  it('queued messages for an unreachable peer expire with an "expired" drop', async () => {
    const { nodes: [, b], ms: [ma] } = await setup<string>(2, { codec: string(), queueTtl: 300, minBackoff: 50 })
    await b.stop()
    const drops: DropDetail[] = []
    ma.addEventListener('drop', (e) => drops.push(e.detail))
    const errors: Error[] = []
    ma.addEventListener('error', (e) => errors.push(e.detail.error))
    for (let i = 0; i < 5; i++) ma.send(b.peerId, 'lost')
    await until(() => drops.length > 0, 5000, 'expiry')
    expect(drops[0]).toMatchObject({ reason: 'expired', count: 5, first: 1, last: 5 })
    expect(errors[0].name).toBe('StreamOpenError')
    expect(ma.pending()).toBe(0)
  })
})

describe('stop()', () => {
  it('releases streams, handlers and listeners, and ends iterators', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const before = {
      open: a.listenerCount('connection:open'),
      protocols: a.getProtocols().length
    }
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string() })
    ma.channel('second', { codec: string() })
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    ma.send(b.peerId, 'x')
    await mb.receive()
    const iterating = take(ma, 1)
    const receiving = ma.receive()
    await ma.stop()
    await expect(receiving).rejects.toThrow('stopped')
    expect(await iterating).toEqual([])
    expect(() => ma.send(b.peerId, 'after')).toThrow('stopped')
    expect(a.listenerCount('connection:open')).toBe(before.open)
    expect(a.getProtocols()).toHaveLength(before.protocols)
    await until(() => a.getConnections().flatMap(c => c.streams).filter(s => s.protocol.startsWith(PROTOCOL)).length === 0, 3000, 'streams to close')
    await mb.stop()
  })

  it('leaves no timers or sockets behind (with the nodes stopped too)', async () => {
    const resources = (): string[] => process.getActiveResourcesInfo().filter(r => r !== 'TTYWrap' && r !== 'PipeWrap' && r !== 'FSReqCallback')
    const baseline = resources()
    {
      live.nodes = await createNodes(3)
      const [a, b, c] = live.nodes
      const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string(), idleTimeout: 60_000, queueTtl: 60_000 })
      const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
      await Promise.all([ma.ready, mb.ready])
      await introduce(a, b)
      ma.send(b.peerId, 'x') // idle timer armed after this
      ma.send(c.peerId, 'unreachable') // retry and expiry timers armed
      await mb.receive()
      await c.stop()
      await ma.stop()
      await mb.stop()
      await stopAll(live.nodes)
      live.nodes = []
    }
    await until(() => resources().length <= baseline.length, 5000, `resources to be released: ${resources().join(',')} vs ${baseline.join(',')}`)
  })
})

describe('addressing and pacing', () => {
  it('a peer can be named by its string form everywhere a PeerId is taken', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<string>(2, { codec: string() })
    await connect(a, b)
    const id = b.peerId.toString()
    expect(ma.send(id, 'by string')).toBe(1)
    expect(ma.peer(id)).toBe(ma.peer(b.peerId))
    const got = await mb.receive({ signal: AbortSignal.timeout(5000) })
    expect(got.data).toBe('by string')
    await until(() => ma.connection(id) != null, 5000, 'connection by string id')
    expect(ma.connection(id)).toBe(ma.connection(b.peerId))
    expect(ma.pending(id)).toBe(0)
    expect(() => ma.send('not a peer id', 'x')).toThrow(expect.objectContaining({ name: 'InvalidParametersError' }))
  })

  it('waitForRoom() lets a sender pace on a small queue: nothing refused, every message arrives in order', async () => {
    const { nodes: [a, b], ms: [ma, mb] } = await setup<string>(2, { codec: string(), maxQueuedMessages: 20 })
    const drops: DropDetail[] = []
    ma.addEventListener('drop', (e) => drops.push(e.detail))
    const total = 2_000
    const receiving = take(mb, total)
    // b is unknown at first: the queue fills and the sender waits
    let waited = 0
    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        if (ma.pending(b.peerId) >= 20) {
          waited++
          await ma.waitForRoom(b.peerId, { signal: AbortSignal.timeout(10_000) })
          expect(ma.pending(b.peerId)).toBeLessThanOrEqual(10)
        }
        expect(ma.send(b.peerId, `m${i}`)).toBeGreaterThan(0)
      }
    })()
    await until(() => ma.pending(b.peerId) === 20, 5000, 'a full queue')
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(ma.pending(b.peerId)).toBe(20)
    await introduce(a, b)
    await sending
    const got = await receiving
    expect(got.map(g => g.data)).toEqual(Array.from({ length: total }, (_, i) => `m${i}`))
    expect(drops).toEqual([])
    expect(waited).toBeGreaterThan(1)
  })

  it('waitForRoom() resolves at once with room, rejects with the abort reason, and with MessengerStoppedError on stop()', async () => {
    const { nodes: [, b], ms: [ma] } = await setup<string>(2, { codec: string(), maxQueuedMessages: 4 })
    await b.stop()
    await ma.waitForRoom(b.peerId)
    for (let i = 0; i < 4; i++) ma.send(b.peerId, 'x')
    const controller = new AbortController()
    const aborted = ma.peer(b.peerId).waitForRoom({ signal: controller.signal })
    controller.abort(new Error('gave up'))
    await expect(aborted).rejects.toThrow('gave up')
    const stopped = ma.waitForRoom(b.peerId)
    await ma.stop()
    await expect(stopped).rejects.toMatchObject({ name: 'MessengerStoppedError' })
    await expect(ma.waitForRoom(b.peerId)).rejects.toMatchObject({ name: 'MessengerStoppedError' })
  })
})
