/**
 * Stream management, hidden from the user: lazy open, reuse, replacement,
 * reopening with backoff after resets, idle close, and moving from a relayed
 * to a direct connection.
 */
import { describe, it, expect } from 'vitest'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { createMessenger, bytes, string, type Messenger, type ErrorDetail } from '../../src/index.js'
import { createNodes, connect, introduce, until, stopAfterEach, type TestNode } from '../helpers/nodes.js'
import type { Stream } from '@libp2p/interface'

const PROTOCOL = '/streams-test/1.0.0'

const live = stopAfterEach()

function numbered (i: number, size = 100): Uint8Array {
  const out = new Uint8Array(size)
  new DataView(out.buffer).setUint32(0, i)
  return out
}

function number (data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset).getUint32(0)
}

/**
 * `got` is in order without duplicates, and the missing numbers form at most
 * one contiguous run no longer than what can be in flight: the stream's own
 * write buffer (1 MiB high-water mark plus one 256 KiB batch) and yamux's
 * largest stream window (16 MiB) — the bound the README states — in 104-byte
 * frames. Returns the missing numbers.
 */
function expectOrderedWithOneGap (got: number[], n: number): number[] {
  for (let i = 1; i < got.length; i++) expect(got[i]).toBeGreaterThan(got[i - 1])
  const missing: number[] = []
  let j = 0
  for (let i = 0; i < n; i++) {
    if (got[j] === i) j++
    else missing.push(i)
  }
  if (missing.length > 0) {
    expect(missing[missing.length - 1] - missing[0] + 1).toBe(missing.length)
  }
  expect(missing.length).toBeLessThanOrEqual(Math.ceil((256 * 1024 + 1024 * 1024 + 16 * 1024 * 1024) / 104))
  return missing
}

function streamsOf (node: TestNode, protocol: string): Stream[] {
  return node.getConnections().flatMap(c => c.streams).filter(s => s.protocol === protocol)
}

describe('stream lifecycle', () => {
  it('opens one stream lazily on the first send and reuses it', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string() })
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await connect(a, b)
    expect(streamsOf(a, PROTOCOL)).toHaveLength(0)
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) ma.send(b.peerId, `${round}:${i}`)
      for (let i = 0; i < 20; i++) expect((await mb.receive()).data).toBe(`${round}:${i}`)
    }
    expect(streamsOf(a, PROTOCOL)).toHaveLength(1)
  })

  it('closes idle streams and reopens them on the next send', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string(), idleTimeout: 200 })
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    ma.send(b.peerId, 'one')
    expect((await mb.receive()).data).toBe('one')
    expect(streamsOf(a, PROTOCOL)).toHaveLength(1)
    await until(() => streamsOf(a, PROTOCOL).length === 0 && streamsOf(b, PROTOCOL).length === 0, 3000, 'idle close')
    ma.send(b.peerId, 'two')
    expect((await mb.receive()).data).toBe('two')
  })

  it('reopens a reset stream with backoff, not in a hot loop', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    let opened = 0
    // b accepts the protocol but resets every stream at once
    await b.handle(PROTOCOL, (stream) => { opened++; stream.abort(new Error('go away')) })
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string(), minBackoff: 100, maxBackoff: 2000 })
    live.messengers.push(ma)
    const errors: ErrorDetail[] = []
    ma.addEventListener('error', (e) => errors.push(e.detail))
    await ma.ready
    await introduce(a, b)
    const sendTimer = setInterval(() => ma.send(b.peerId, 'again'), 20)
    await new Promise(resolve => setTimeout(resolve, 2000))
    clearInterval(sendTimer)
    // 100 ms doubling: about 5 attempts in 2 s; a hot loop would be hundreds
    expect(opened).toBeGreaterThanOrEqual(2)
    expect(opened).toBeLessThanOrEqual(8)
    // reported once per failure streak, not once per retry
    expect(errors.length).toBeLessThanOrEqual(opened)
    expect(errors[0].error.name).toBe('StreamResetError')
  })
})

describe('reconnects and duplicate streams', () => {
  it('reconnects after the connection is aborted mid-stream; loss is one contiguous run of in-flight messages', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes(), minBackoff: 50 })
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    const n = 20_000
    const got: number[] = []
    const reading = (async () => {
      for await (const { data } of mb) {
        got.push(number(data))
        if (got[got.length - 1] === n - 1) break
      }
    })()
    // a steady sender: 200 messages every 5 ms
    let next = 0
    let cut = false
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        for (let k = 0; k < 200 && next < n; k++) ma.send(b.peerId, numbered(next++))
        if (!cut && got.length > n / 4) {
          cut = true
          for (const conn of a.getConnections(b.peerId)) conn.abort(new Error('cable cut'))
        }
        if (next === n) { clearInterval(timer); resolve() }
      }, 5)
    })
    await reading
    expect(cut).toBe(true)
    const missing = expectOrderedWithOneGap(got, n)
    console.info(`reconnect: ${missing.length} of ${n} messages were in flight and lost`)
  })

  it('a connection closing mid-transfer: queued messages move to the other connection in order; only in-flight ones can be lost', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes(), minBackoff: 20 })
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    await introduce(b, a)
    // two connections between the same peers, one each way
    await connect(a, b)
    await connect(b, a)
    await until(() => a.getConnections(b.peerId).length === 2, 3000, 'two connections')
    const n = 5000
    const got: number[] = []
    let closing: Promise<void> | undefined
    const reading = (async () => {
      for await (const { data } of mb) {
        got.push(number(data))
        if (got.length === 100) {
          // close the connection the stream is on, gracefully, while the rest is in flight
          closing = a.getConnections(b.peerId).find(c => c.streams.some(s => s.protocol === PROTOCOL))?.close()
        }
        if (got[got.length - 1] === n - 1) break
      }
    })()
    for (let i = 0; i < n / 2; i++) ma.send(b.peerId, numbered(i))
    await until(() => closing != null, 5000, 'close to start')
    // queued while the connection is closing: these must all arrive
    for (let i = n / 2; i < n; i++) ma.send(b.peerId, numbered(i))
    await closing
    await reading
    const missing = expectOrderedWithOneGap(got, n)
    expect(missing.every(i => i < n / 2)).toBe(true)
    console.info(`graceful close: ${missing.length} in-flight messages lost by the closing connection`)
  })

  it('both directions at once, on a pair dialing each other simultaneously', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes() })
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    await introduce(b, a)
    const n = 5000
    for (let i = 0; i < n; i++) { ma.send(b.peerId, numbered(i)); mb.send(a.peerId, numbered(i)) }
    const read = async (m: Messenger<Uint8Array>): Promise<number[]> => {
      const out: number[] = []
      for await (const { data } of m) { out.push(number(data)); if (out.length === n) break }
      return out
    }
    const [atB, atA] = await Promise.all([read(mb), read(ma)])
    const expected = Array.from({ length: n }, (_, i) => i)
    expect(atB).toEqual(expected)
    expect(atA).toEqual(expected)
  })
})

describe('relayed and direct connections', () => {
  async function relayTrio (): Promise<{ relay: TestNode, a: TestNode, b: TestNode }> {
    const relay = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        relay: circuitRelayServer({ reservations: { applyDefaultLimit: false } })
      }
    })
    const peer = async (): Promise<TestNode> => createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0', `${relay.getMultiaddrs()[0].toString()}/p2p-circuit`] },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    const a = await peer()
    const b = await peer()
    live.nodes.push(relay, a, b)
    await until(() => b.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), 10_000, 'reservation')
    return { relay, a, b }
  }

  it('sends over a relayed connection when it is all there is, then moves to the direct one without loss or reordering', async () => {
    const { a, b } = await relayTrio()
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes() })
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    const circuit = b.getMultiaddrs().find(addr => addr.toString().includes('/p2p-circuit'))
    if (circuit == null) throw new Error('no circuit address')
    await a.dial(circuit)
    expect(a.getConnections(b.peerId).every(c => !c.direct)).toBe(true)

    const n = 3000
    let next = 0
    const got: number[] = []
    const reading = (async () => {
      for await (const { data } of mb) { got.push(number(data)); if (got.length === n) break }
    })()
    for (; next < n / 3; next++) ma.send(b.peerId, numbered(next))
    await until(() => got.length >= 100, 10_000, 'relayed messages')
    const kindWhileRelayed = ma.peer(b.peerId).connection
    // a direct connection appears while messages are flowing
    const direct = b.getMultiaddrs().find(addr => !addr.toString().includes('/p2p-circuit'))
    if (direct == null) throw new Error('no direct address')
    const dialing = a.dial(direct)
    for (; next < n; next++) ma.send(b.peerId, numbered(next))
    await dialing
    await reading
    expect(kindWhileRelayed).toBe('relayed')
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i))
    expect(ma.peer(b.peerId).connection).toBe('direct')
    // the stream now runs on the direct connection
    await until(() => streamsOf(a, PROTOCOL).every(s => a.getConnections(b.peerId).find(c => c.streams.includes(s))?.direct === true), 3000, 'stream on direct')
  })

  it('connection events say when a peer is reached relayed, then direct, relayed again, then not at all', async () => {
    const { a, b } = await relayTrio()
    const ma = createMessenger<string>(a, { protocol: PROTOCOL, codec: string() })
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(ma, mb)
    await Promise.all([ma.ready, mb.ready])
    const seen: Array<string | undefined> = []
    const seenByHandle: Array<string | undefined> = []
    ma.addEventListener('connection', (e) => {
      expect(e.detail.peer.equals(b.peerId)).toBe(true)
      seen.push(e.detail.connection)
    })
    ma.peer(b.peerId).addEventListener('connection', (e) => { seenByHandle.push(e.detail.connection) })
    const circuit = b.getMultiaddrs().find(addr => addr.toString().includes('/p2p-circuit'))
    const direct = b.getMultiaddrs().find(addr => !addr.toString().includes('/p2p-circuit'))
    if (circuit == null || direct == null) throw new Error('no addresses')
    await a.dial(circuit)
    ma.send(b.peerId, 'over the relay')
    await mb.receive({ signal: AbortSignal.timeout(5000) })
    await until(() => seen.length === 1, 5000, 'relayed')
    const conn = await a.dial(direct)
    await until(() => seen.length === 2, 5000, 'direct')
    expect(ma.connection(b.peerId)).toBe('direct')
    await conn.close()
    await until(() => seen.length === 3, 5000, 'relayed again')
    await b.stop()
    await until(() => seen.length === 4, 5000, 'gone')
    expect(seen).toEqual(['relayed', 'direct', 'relayed', undefined])
    expect(seenByHandle).toEqual(seen)
  })
})
