/**
 * Request/response over real libp2p nodes (TCP, noise, yamux), in both wire
 * modes: typed round trips, timeouts, cancellation on both sides, remote
 * errors, size limits both ways, 1,000 concurrent requests, concurrency
 * limits, a connection dropping mid-request, a peer speaking garbage, relayed
 * connections. Every request settles; nothing is left running on either side.
 */
import { describe, it, expect } from 'vitest'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import { encodeUint8Array, encodingLength } from 'uint8-varint'
import { bytes, json, string } from '../../src/core/codec.js'
import { MULTIPLEXED_SUFFIX } from '../../src/request/constants.js'
import { createRequestor, type Requestor, type RequestMode, type RequestErrorDetail, type RequestorInit } from '../../src/request/requestor.js'
import { RequestFrameReader } from '../../src/request/wire.js'
import { createNodes, connect, introduce, until, stopAfterEach, type TestNode } from '../helpers/nodes.js'
import type { Stream } from '@libp2p/interface'

const PROTOCOL = '/request-test/1.0.0'
const MODES: RequestMode[] = ['multiplexed', 'stream']

const live = stopAfterEach()

type Req = { op: 'add', a: number, b: number } | { op: 'echo', text: string }
type Res = { sum: number } | { text: string }

interface Pair<Q, R> { a: TestNode, b: TestNode, client: Requestor<Q, R>, server: Requestor<Q, R> }

/** Two connected nodes; `server` on b handles, `client` on a calls in `mode`. */
async function pair<Q = Req, R = Res> (mode: RequestMode, init: Partial<RequestorInit<Q, R>> = {}, serverInit: Partial<RequestorInit<Q, R>> = {}): Promise<Pair<Q, R>> {
  live.nodes = await createNodes(2)
  const [a, b] = live.nodes
  const base = { protocol: PROTOCOL, requestCodec: json<Q>(), responseCodec: json<R>() }
  const client = createRequestor<Q, R>(a, { ...base, mode, ...init })
  const server = createRequestor<Q, R>(b, { ...base, ...serverInit })
  live.messengers.push(client, server)
  await introduce(a, b)
  return { a, b, client, server }
}

/** Settle every promise; tally by outcome (`ok` or the error's name). */
async function outcomes (promises: Array<Promise<unknown>>): Promise<Record<string, number>> {
  const tally: Record<string, number> = {}
  for (const r of await Promise.allSettled(promises)) {
    const key = r.status === 'fulfilled' ? 'ok' : (r.reason?.name ?? String(r.reason))
    tally[key] = (tally[key] ?? 0) + 1
  }
  return tally
}

async function rejection (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

function requestStreams (node: TestNode): Stream[] {
  return node.getConnections().flatMap(c => c.streams).filter(s => s.protocol.startsWith(PROTOCOL))
}

/** A gate handlers wait at until the test opens it. */
function gate (): { wait: (signal: AbortSignal) => Promise<void>, open: () => void } {
  const { promise, resolve } = Promise.withResolvers<void>()
  return {
    wait: async (signal) => {
      await new Promise<void>((resolve, reject) => {
        promise.then(resolve, reject)
        signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
      })
    },
    open: resolve
  }
}

for (const mode of MODES) {
  describe(`${mode} mode`, () => {
    it('round-trips typed requests and responses; the handler sees the caller', async () => {
      const { a, b, client, server } = await pair(mode)
      const froms: string[] = []
      await server.handle(async (req, { from }) => {
        froms.push(from.toString())
        return req.op === 'add' ? { sum: req.a + req.b } : { text: req.text.toUpperCase() }
      })
      expect(await client.request(b.peerId, { op: 'add', a: 2, b: 40 })).toEqual({ sum: 42 })
      expect(await client.request(b.peerId, { op: 'echo', text: 'héllo' })).toEqual({ text: 'HÉLLO' })
      for (let i = 0; i < 50; i++) {
        expect(await client.request(b.peerId, { op: 'add', a: i, b: 1 })).toEqual({ sum: i + 1 })
      }
      expect(froms).toHaveLength(52)
      expect(new Set(froms)).toEqual(new Set([a.peerId.toString()]))
      expect(client.pending()).toBe(0)
      expect(server.handling()).toBe(0)
      if (mode === 'multiplexed') {
        // one stream carried them all
        expect(requestStreams(a)).toHaveLength(1)
        expect(requestStreams(a)[0].protocol).toBe(PROTOCOL + MULTIPLEXED_SUFFIX)
      }
    })

    it('times out a handler that never answers, and aborts the handler\'s signal', async () => {
      const { b, client, server } = await pair(mode)
      let started = 0
      const aborted: string[] = []
      await server.handle(async (req, { signal }) => {
        if (req.op === 'echo') return { text: req.text }
        started++
        await new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => { aborted.push(signal.reason?.name); reject(signal.reason) }, { once: true })
        })
        return { sum: 0 }
      })
      // connected first: the short timeout below is for the handler, not for dialing a loaded machine
      expect(await client.request(b.peerId, { op: 'echo', text: 'warm' })).toEqual({ text: 'warm' })
      const err = await rejection(client.request(b.peerId, { op: 'add', a: 1, b: 1 }, { timeout: 300 }))
      expect(err.name).toBe('RequestTimeoutError')
      expect(started).toBe(1)
      await until(() => aborted.length === 1, 5000, 'handler signal aborted')
      expect(aborted).toEqual(['RequestAbortedError'])
      expect(client.pending()).toBe(0)
      await until(() => server.handling() === 0, 5000, 'server slot released')
      // the requestor still works
      await server.handle(async () => ({ sum: 7 }))
      expect(await client.request(b.peerId, { op: 'add', a: 3, b: 4 })).toEqual({ sum: 7 })
    })

    it('the handler\'s own time limit reaches the caller as a timeout', async () => {
      const { b, client, server } = await pair(mode, {}, { handlerTimeout: 200 })
      let abortedWith: string | undefined
      await server.handle(async (_req, { signal }) => {
        await new Promise((_resolve, reject) => { signal.addEventListener('abort', () => { abortedWith = signal.reason?.name; reject(signal.reason) }) })
        return { sum: 0 }
      })
      const err = await rejection(client.request(b.peerId, { op: 'add', a: 1, b: 1 }, { timeout: 10_000 }))
      expect(err.name).toBe('RequestTimeoutError')
      expect(err.message).toMatch(/did not answer within 200 ms/)
      expect(abortedWith).toBe('RequestTimeoutError')
      expect(server.handling()).toBe(0)
    })

    it('cancels by AbortSignal: the caller rejects with the reason, the handler\'s signal aborts', async () => {
      const { b, client, server } = await pair(mode)
      const started: number[] = []
      const aborted: number[] = []
      await server.handle(async (req, { signal }) => {
        const n = (req as { a: number }).a
        started.push(n)
        await new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => { aborted.push(n); reject(signal.reason) }, { once: true })
        })
        return { sum: 0 }
      })
      const controllers = Array.from({ length: 5 }, () => new AbortController())
      const requests = controllers.map(async (c, i) => client.request(b.peerId, { op: 'add', a: i, b: 0 }, { signal: c.signal }))
      await until(() => started.length === 5, 5000, 'handlers started')
      // abort with the default reason for one, a custom reason for the others
      controllers[0].abort()
      const reason = new Error('changed my mind')
      for (const c of controllers.slice(1)) c.abort(reason)
      const errors = await Promise.all(requests.map(rejection))
      expect(errors[0].name).toBe('AbortError')
      for (const err of errors.slice(1)) expect(err).toBe(reason)
      await until(() => aborted.length === 5, 5000, 'handler signals aborted')
      expect(aborted.sort()).toEqual([0, 1, 2, 3, 4])
      expect(client.pending()).toBe(0)
      await until(() => server.handling() === 0, 5000, 'server slots released')
      // an already aborted signal: rejected at once, nothing sent
      const before = started.length
      const err = await rejection(client.request(b.peerId, { op: 'add', a: 9, b: 9 }, { signal: AbortSignal.abort(reason) }))
      expect(err).toBe(reason)
      expect(started.length).toBe(before)
    })

    it('a handler that looks at its signal only after the caller gave up still finds it aborted', async () => {
      const { b, client, server } = await pair(mode)
      const { promise: opened, resolve: open } = Promise.withResolvers<void>()
      let started = 0
      let seen: { aborted: boolean, reason?: string } | undefined
      await server.handle(async (_req, context) => {
        started++
        await opened
        seen = { aborted: context.signal.aborted, reason: context.signal.reason?.name }
        return { sum: 0 }
      })
      const controller = new AbortController()
      const request = client.request(b.peerId, { op: 'add', a: 1, b: 1 }, { signal: controller.signal })
      await until(() => started === 1, 5000, 'handler started')
      controller.abort()
      expect((await rejection(request)).name).toBe('AbortError')
      await until(() => server.handling() === 0, 5000, 'the cancel reached the handler side')
      open()
      await until(() => seen != null, 5000, 'handler looked at its signal')
      expect(seen).toEqual({ aborted: true, reason: 'RequestAbortedError' })
    })

    it('a handler\'s error reaches the caller as RemoteError with message and code, no stack', async () => {
      const { b, client, server } = await pair(mode)
      await server.handle(async (req) => {
        if (req.op === 'echo' && req.text === 'code') throw Object.assign(new Error('not found: /x'), { code: 'ERR_NOT_FOUND' })
        if (req.op === 'echo' && req.text === 'string') throw 'plain string' // eslint-disable-line no-throw-literal
        if (req.op === 'echo' && req.text === 'sync') return (null as any).boom
        throw new TypeError('bad input')
      })
      const coded = await rejection(client.request(b.peerId, { op: 'echo', text: 'code' }))
      expect(coded.name).toBe('RemoteError')
      expect(coded.code).toBe('ERR_NOT_FOUND')
      expect(coded.message).toBe('not found: /x')
      const plain = await rejection(client.request(b.peerId, { op: 'add', a: 1, b: 2 }))
      expect(plain.name).toBe('RemoteError')
      expect(plain.code).toBe('ERR_REMOTE')
      expect(plain.message).toBe('bad input')
      expect(plain.message).not.toMatch(/ at |request\.test/)
      const str = await rejection(client.request(b.peerId, { op: 'echo', text: 'string' }))
      expect(str.message).toBe('plain string')
      const sync = await rejection(client.request(b.peerId, { op: 'echo', text: 'sync' }))
      expect(sync.name).toBe('RemoteError')
      expect(sync.message).toMatch(/null/)
      // the stream is fine afterwards
      await server.handle(async () => ({ sum: 1 }))
      expect(await client.request(b.peerId, { op: 'add', a: 0, b: 1 })).toEqual({ sum: 1 })
    })

    it('oversized requests: refused locally before sending, or by the handler\'s limit without breaking the stream', async () => {
      const { b, client, server } = await pair<Uint8Array, Uint8Array>(mode,
        { requestCodec: bytes(), responseCodec: bytes(), maxRequestSize: 64 * 1024 },
        { requestCodec: bytes(), responseCodec: bytes(), maxRequestSize: 16 * 1024 })
      let calls = 0
      await server.handle((req) => { calls++; return req.subarray(0, 4) })
      const local = await rejection(client.request(b.peerId, new Uint8Array(64 * 1024 + 1)))
      expect(local.name).toBe('MessageTooLargeError')
      expect(local.size).toBe(64 * 1024 + 1)
      expect(local.limit).toBe(64 * 1024)
      const remote = await rejection(client.request(b.peerId, new Uint8Array(20 * 1024)))
      expect(remote.name).toBe('RemoteError')
      expect(remote.code).toBe('ERR_REQUEST_TOO_LARGE')
      expect(remote.message).toBe('Request of 20480 bytes exceeds the limit of 16384 bytes')
      expect(calls).toBe(0)
      // a request at the limit passes, on the same stream in multiplexed mode
      const ok = await client.request(b.peerId, new Uint8Array(16 * 1024).fill(5))
      expect(ok).toEqual(new Uint8Array([5, 5, 5, 5]))
      expect(calls).toBe(1)
    })

    it('oversized responses: refused by the handler\'s limit, or skipped unread by the caller\'s', async () => {
      const { b, client, server } = await pair<number, Uint8Array>(mode,
        { requestCodec: json(), responseCodec: bytes(), maxResponseSize: 32 * 1024 },
        { requestCodec: json(), responseCodec: bytes(), maxResponseSize: 64 * 1024 })
      await server.handle((size) => new Uint8Array(size).fill(1))
      const atServer = await rejection(client.request(b.peerId, 64 * 1024 + 1))
      expect(atServer.name).toBe('RemoteError')
      expect(atServer.code).toBe('ERR_RESPONSE_TOO_LARGE')
      const atClient = await rejection(client.request(b.peerId, 40 * 1024))
      expect(atClient.name).toBe('FrameTooLargeError')
      expect(atClient.size).toBe(40 * 1024)
      expect(atClient.limit).toBe(32 * 1024)
      // other requests are untouched, before and after, concurrently
      const results = await Promise.all([100, 32 * 1024, 5].map(async n => client.request(b.peerId, n)))
      expect(results.map(r => r.byteLength)).toEqual([100, 32 * 1024, 5])
      if (mode === 'multiplexed') expect(requestStreams(b).filter(s => s.status === 'open')).toHaveLength(1)
    })

    it('1,000 concurrent requests all get their own response; the handler\'s limit is never exceeded', async () => {
      const { b, client, server } = await pair<number, number>(mode, { requestCodec: json(), responseCodec: json() }, { requestCodec: json(), responseCodec: json() })
      let running = 0
      let maxRunning = 0
      await server.handle(async (n) => {
        running++
        maxRunning = Math.max(maxRunning, running)
        await new Promise(resolve => setTimeout(resolve, n % 3))
        running--
        return n * 2
      })
      const n = 1000
      const results = await Promise.all(Array.from({ length: n }, async (_, i) => client.request(b.peerId, i, { timeout: 60_000 })))
      expect(results).toEqual(Array.from({ length: n }, (_, i) => i * 2))
      expect(maxRunning).toBeLessThanOrEqual(64)
      expect(client.pending()).toBe(0)
      expect(server.handling()).toBe(0)
    })

    it('refuses requests beyond the handler\'s per-peer limit with TooManyRequestsError', async () => {
      const { b, client, server } = await pair(mode, { maxInFlightPerPeer: 100 }, { maxConcurrentPerPeer: 4 })
      const g = gate()
      let started = 0
      await server.handle(async (_req, { signal }) => { started++; await g.wait(signal); return { sum: 1 } })
      let settled = 0
      const requests = Array.from({ length: 10 }, async (_, i) => client.request(b.peerId, { op: 'add', a: i, b: 0 }).finally(() => { settled++ }))
      const all = outcomes(requests)
      // the refusals come back while four are still running (in stream mode
      // the streams may arrive in any order: which four is not fixed)
      await until(() => settled === 6, 10_000, 'six refusals')
      expect(started).toBe(4)
      expect(server.handling(live.nodes[0].peerId)).toBe(4)
      g.open()
      expect(await all).toEqual({ ok: 4, TooManyRequestsError: 6 })
      expect(server.handling()).toBe(0)
    })

    it('a connection dropping in the middle of requests fails every one of them; the next request reconnects', async () => {
      const { a, b, client, server } = await pair(mode)
      const g = gate()
      let started = 0
      let aborted = 0
      await server.handle(async (_req, { signal }) => {
        started++
        signal.addEventListener('abort', () => { aborted++ })
        await g.wait(signal)
        return { sum: 1 }
      })
      const n = 50
      const requests = Array.from({ length: n }, async (_, i) => client.request(b.peerId, { op: 'add', a: i, b: 0 }, { timeout: 30_000 }))
      await until(() => started === n, 10_000, 'handlers started')
      for (const conn of a.getConnections(b.peerId)) conn.abort(new Error('cable pulled'))
      expect(await outcomes(requests)).toEqual({ RequestAbortedError: n })
      expect(client.pending()).toBe(0)
      await until(() => aborted === n && server.handling() === 0, 10_000, 'server noticed')
      g.open()
      expect(await client.request(b.peerId, { op: 'add', a: 1, b: 1 })).toEqual({ sum: 1 })
    })

    it('stop() fails pending requests, aborts running handlers, and releases everything', async () => {
      const { b, client, server } = await pair(mode, { maxInFlightPerPeer: 2 })
      const aborted: string[] = []
      await server.handle(async (_req, { signal }) => {
        await new Promise((_resolve, reject) => { signal.addEventListener('abort', () => { aborted.push(signal.reason?.name); reject(signal.reason) }) })
        return { sum: 0 }
      })
      // two in flight, three waiting
      const requests = Array.from({ length: 5 }, async (_, i) => client.request(b.peerId, { op: 'add', a: i, b: 0 }))
      await until(() => server.handling() === 2, 5000, 'handlers running')
      await server.stop()
      expect(aborted).toEqual(['MessengerStoppedError', 'MessengerStoppedError'])
      expect(server.handling()).toBe(0)
      // the server side is gone: in-flight requests fail (stream reset), waiting ones follow
      await client.stop()
      const tally = await outcomes(requests)
      expect(Object.values(tally).reduce((x, y) => x + y, 0)).toBe(5)
      expect(tally.ok).toBeUndefined()
      expect(client.pending()).toBe(0)
      expect((await rejection(client.request(b.peerId, { op: 'add', a: 0, b: 0 }))).name).toBe('MessengerStoppedError')
    })
  })
}

describe('limits on the calling side', () => {
  it('queues beyond maxInFlightPerPeer in order, and refuses beyond maxQueuedRequests with QueueFullError', async () => {
    const { b, client, server } = await pair<number, number>('multiplexed',
      { requestCodec: json(), responseCodec: json(), maxInFlightPerPeer: 2, maxQueuedRequests: 5 },
      { requestCodec: json(), responseCodec: json() })
    const g = gate()
    const order: number[] = []
    // the stream is open: requests beyond the two slots wait
    await server.handle((n) => n)
    expect(await client.request(b.peerId, -1)).toBe(-1)
    await server.handle(async (n, { signal }) => { order.push(n); await g.wait(signal); return n })
    const accepted = Array.from({ length: 7 }, async (_, i) => client.request(b.peerId, i))
    const refused = client.request(b.peerId, 99)
    expect((await rejection(refused)).name).toBe('QueueFullError')
    await until(() => order.length === 2, 5000, 'two running')
    expect(client.pending(b.peerId)).toBe(7)
    expect(server.handling()).toBe(2)
    g.open()
    expect(await Promise.all(accepted)).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6])
  })

  it('a peer that cannot be reached or does not speak the protocol fails with StreamOpenError', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    for (const mode of MODES) {
      const client = createRequestor(a, { protocol: PROTOCOL, requestCodec: string(), responseCodec: string(), mode })
      live.messengers.push(client)
      // b is known but does not handle the protocol
      await introduce(a, b)
      const err = await rejection(client.request(b.peerId, 'hi'))
      expect(err.name).toBe('StreamOpenError')
      expect(client.pending()).toBe(0)
    }
  })
})

describe('multiplexed stream management', () => {
  it('closes an idle stream and opens a new one for the next request', async () => {
    const { a, b, client, server } = await pair('multiplexed', { idleTimeout: 200 })
    await server.handle(() => ({ sum: 1 }))
    await client.request(b.peerId, { op: 'add', a: 0, b: 1 })
    expect(requestStreams(a)).toHaveLength(1)
    await until(() => requestStreams(a).length === 0 && requestStreams(b).length === 0, 5000, 'idle close')
    expect(await client.request(b.peerId, { op: 'add', a: 0, b: 1 })).toEqual({ sum: 1 })
    expect(requestStreams(a)).toHaveLength(1)
  })
})

describe('relayed connections', () => {
  async function relayTrio (): Promise<{ a: TestNode, b: TestNode }> {
    const relay = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), relay: circuitRelayServer() }
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
    return { a, b }
  }

  it('works over a limited relayed connection in both modes, then moves to a direct one', async () => {
    const { a, b } = await relayTrio()
    const base = { protocol: PROTOCOL, requestCodec: string(), responseCodec: string() }
    const server = createRequestor(b, { ...base, handler: (s: string, { connection }) => `${s}:${connection.limits != null ? 'limited' : 'unlimited'}` })
    const mux = createRequestor(a, { ...base, mode: 'multiplexed' })
    const single = createRequestor(a, { ...base, mode: 'stream' })
    live.messengers.push(server, mux, single)
    await server.ready
    const circuit = b.getMultiaddrs().find(addr => addr.toString().includes('/p2p-circuit'))
    if (circuit == null) throw new Error('no circuit address')
    await a.dial(circuit)
    expect(a.getConnections(b.peerId).every(c => c.limits != null)).toBe(true)
    expect(await mux.request(b.peerId, 'm')).toBe('m:limited')
    expect(await single.request(b.peerId, 's')).toBe('s:limited')
    // a direct connection appears: the next requests use it
    const direct = b.getMultiaddrs().find(addr => !addr.toString().includes('/p2p-circuit'))
    if (direct == null) throw new Error('no direct address')
    await a.dial(direct)
    expect(await mux.request(b.peerId, 'm')).toBe('m:unlimited')
    expect(await single.request(b.peerId, 's')).toBe('s:unlimited')
  })
})

describe('the wire', () => {
  /** `<varint n> <kind> <varint id> <payload>` */
  function wireFrame (kind: number, id: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
    const idLen = encodingLength(id)
    const body = 1 + idLen + payload.byteLength
    const out = new Uint8Array(encodingLength(body) + body)
    encodeUint8Array(body, out, 0)
    let p = encodingLength(body)
    out[p++] = kind
    encodeUint8Array(id, out, p)
    out.set(payload, p + idLen)
    return out
  }
  const text = (s: string): Uint8Array => new TextEncoder().encode(s)

  it('is the documented format: a plain libp2p stream speaks it in both modes', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const server = createRequestor(b, { protocol: PROTOCOL, requestCodec: string(), responseCodec: string(), handler: (s: string) => { if (s === 'fail') throw Object.assign(new Error('nope'), { code: 'E_X' }); return s + '!' } })
    live.messengers.push(server)
    await server.ready
    await connect(a, b)
    // multiplexed: two requests on one stream, answered by id
    const mux = lpStream(await a.dialProtocol(b.peerId, PROTOCOL + MULTIPLEXED_SUFFIX))
    await mux.writeV([wireFrame(0, 7, text('a')).subarray(1), wireFrame(0, 9, text('fail')).subarray(1)])
    const got = [(await mux.read()).subarray(), (await mux.read()).subarray()]
    const byId = new Map(got.map(f => [f[1], f]))
    expect(new Uint8Array(byId.get(7) ?? [])).toEqual(new Uint8Array([2, 7, ...text('a!')]))
    // ERROR: <varint c> <code> <message>
    expect(new Uint8Array(byId.get(9) ?? [])).toEqual(new Uint8Array([3, 9, 3, ...text('E_X'), ...text('nope')]))
    // stream mode: id 0, one request, the handler closes after answering
    const s = await a.dialProtocol(b.peerId, PROTOCOL)
    const single = lpStream(s)
    await single.write(wireFrame(0, 0, text('b')).subarray(1))
    expect(new Uint8Array((await single.read()).subarray())).toEqual(new Uint8Array([2, 0, ...text('b!')]))
  })

  interface BadCase { name: string, reply: (id: number) => Uint8Array, then?: 'close' | 'reset' | 'hang', error: string }
  const cases: BadCase[] = [
    { name: 'random bytes', reply: () => Uint8Array.from({ length: 64 }, (_, i) => (i * 73 + 200) & 0xff), error: 'ProtocolError' },
    { name: 'an over-long length prefix', reply: () => new Uint8Array(12).fill(0x80), error: 'ProtocolError' },
    { name: 'an unknown frame kind', reply: (id) => wireFrame(9, id, text('?')), error: 'ProtocolError' },
    { name: 'a REQUEST frame sent back', reply: (id) => wireFrame(0, id, text('"x"')), error: 'ProtocolError' },
    { name: 'a response to a request never sent', reply: (id) => wireFrame(2, id + 1000, text('"x"')), error: 'ProtocolError' },
    { name: 'a response the codec cannot decode', reply: (id) => wireFrame(2, id, text('{{{')), error: 'ProtocolError' },
    { name: 'a malformed ERROR frame', reply: (id) => wireFrame(3, id, new Uint8Array([50, 1])), error: 'ProtocolError' },
    { name: 'an ERROR frame whose code length is not a minimal varint', reply: (id) => wireFrame(3, id, new Uint8Array([0x81, 0x00, 0x41])), error: 'ProtocolError' },
    { name: 'a truncated frame, then the end', reply: (id) => wireFrame(2, id, text('"abcdef"')).subarray(0, 5), then: 'close', error: 'ProtocolError' },
    { name: 'no answer, the stream closed', reply: () => new Uint8Array(0), then: 'close', error: 'RequestAbortedError' },
    { name: 'no answer, the stream reset', reply: () => new Uint8Array(0), then: 'reset', error: 'RequestAbortedError' }
  ]

  for (const mode of MODES) {
    for (const c of cases) {
      it(`${mode}: a peer answering with ${c.name} fails the request with ${c.error}, never a hang`, async () => {
        live.nodes = await createNodes(2)
        const [a, b] = live.nodes
        const protocol = mode === 'multiplexed' ? PROTOCOL + MULTIPLEXED_SUFFIX : PROTOCOL
        // b speaks the protocol badly: reads one request frame and answers `reply`
        await b.handle(protocol, (stream) => {
          stream.addEventListener('message', (evt) => {
            const data = evt.data.subarray()
            const id = data[2]
            const reply = c.reply(id)
            if (reply.byteLength > 0) stream.send(reply)
            if (c.then === 'close') void stream.close()
            if (c.then === 'reset') stream.abort(new Error('bye'))
          }, { once: true })
        }, { runOnLimitedConnection: true })
        const client = createRequestor(a, { protocol: PROTOCOL, requestCodec: json<string>(), responseCodec: json<string>(), mode })
        live.messengers.push(client)
        await introduce(a, b)
        const err = await rejection(client.request(b.peerId, 'hello', { timeout: 20_000 }))
        expect(err.name).toBe(c.error)
        expect(client.pending()).toBe(0)
      })
    }
  }

  it('multiplexed: garbage fails every request in flight on that stream, and the next request uses a new stream', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    let streams = 0
    await b.handle(PROTOCOL + MULTIPLEXED_SUFFIX, (stream) => {
      streams++
      let seen = 0
      stream.addEventListener('message', (evt) => {
        const data = evt.data.subarray()
        // answer properly on the second stream; garbage after 3 requests on the first
        let p = 0
        while (p < data.byteLength) {
          const len = data[p]
          const id = data[p + 2]
          p += 1 + len
          seen++
          if (streams > 1) stream.send(wireFrame(2, id, text('"ok"')))
          else if (seen === 3) stream.send(new Uint8Array([2, 77, 1]))
        }
      })
    }, { runOnLimitedConnection: true })
    const client = createRequestor(a, { protocol: PROTOCOL, requestCodec: json<string>(), responseCodec: json<string>() })
    live.messengers.push(client)
    await introduce(a, b)
    const first = Array.from({ length: 3 }, async () => client.request(b.peerId, 'x'))
    expect(await outcomes(first)).toEqual({ ProtocolError: 3 })
    expect(await client.request(b.peerId, 'y')).toBe('ok')
    expect(streams).toBe(2)
  })

  it('a caller speaking garbage has its stream reset and reported; other callers are served', async () => {
    live.nodes = await createNodes(3)
    const [bad, b, good] = live.nodes
    const server = createRequestor(b, { protocol: PROTOCOL, requestCodec: string(), responseCodec: string(), handler: (s: string) => s })
    const client = createRequestor(good, { protocol: PROTOCOL, requestCodec: string(), responseCodec: string() })
    live.messengers.push(server, client)
    const errors: RequestErrorDetail[] = []
    server.addEventListener('error', (e) => errors.push(e.detail))
    await server.ready
    await introduce(good, b)
    await connect(bad, b)
    const stream = await bad.dialProtocol(b.peerId, PROTOCOL + MULTIPLEXED_SUFFIX)
    const closed = new Promise<Error | undefined>(resolve => { stream.addEventListener('close', (e) => { resolve(e.error) }) })
    stream.send(wireFrame(2, 1, text('a response from a caller?')))
    expect(await closed).toBeDefined()
    expect(errors).toHaveLength(1)
    expect(errors[0].error.name).toBe('ProtocolError')
    expect(errors[0].peer?.equals(bad.peerId)).toBe(true)
    expect(await client.request(b.peerId, 'still here')).toBe('still here')
    expect(server.handling()).toBe(0)
  })
})

describe('the frame reader', () => {
  /** A seeded PRNG so a failure can be replayed. */
  function rng (seed: number): () => number {
    let x = seed >>> 0
    return () => {
      x = (x + 0x6D2B79F5) >>> 0
      let t = x
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  }
  function encode (kind: number, id: number, payload: Uint8Array): Uint8Array {
    const idLen = encodingLength(id)
    const body = 1 + idLen + payload.byteLength
    const out = new Uint8Array(encodingLength(body) + body)
    encodeUint8Array(body, out, 0)
    let p = encodingLength(body)
    out[p++] = kind
    encodeUint8Array(id, out, p)
    out.set(payload, p + idLen)
    return out
  }
  const LIMITS = [-1, -1, 1000, 200]

  it('reads valid frames split anywhere exactly as written, skipping oversized payloads unread', () => {
    const r = rng(5)
    for (let round = 0; round < 300; round++) {
      const frames = Array.from({ length: 1 + Math.floor(r() * 8) }, () => {
        const kind = r() < 0.7 ? 2 : 3
        const size = Math.floor(r() * (r() < 0.2 ? 3000 : 300))
        return { kind, id: Math.floor(r() * 2 ** (r() < 0.5 ? 7 : 40)), payload: Uint8Array.from({ length: size }, () => Math.floor(r() * 256)) }
      })
      const wire = new Uint8Array(frames.reduce((n, f) => n + encode(f.kind, f.id, f.payload).byteLength, 0))
      let o = 0
      for (const f of frames) { const e = encode(f.kind, f.id, f.payload); wire.set(e, o); o += e.byteLength }
      const got: string[] = []
      const reader = new RequestFrameReader(LIMITS, {
        frame: (kind, id, payload) => { got.push(`${kind}:${id}:${Array.from(payload).join(',')}`) },
        oversized: (kind, id, size, limit) => { got.push(`${kind}:${id}:over ${size}/${limit}`) }
      })
      // random cuts
      let pos = 0
      while (pos < wire.byteLength) {
        const n = Math.min(wire.byteLength - pos, 1 + Math.floor(r() * 700))
        reader.push(wire.subarray(pos, pos + n))
        pos += n
      }
      expect(reader.midFrame).toBe(false)
      expect(got).toEqual(frames.map(f => f.payload.byteLength > LIMITS[f.kind]
        ? `${f.kind}:${f.id}:over ${f.payload.byteLength}/${LIMITS[f.kind]}`
        : `${f.kind}:${f.id}:${Array.from(f.payload).join(',')}`))
    }
  })

  it('rejects garbage with ProtocolError or InvalidFrameError only, never handing out more than the limit', () => {
    const r = rng(11)
    for (let round = 0; round < 3000; round++) {
      const garbage = Uint8Array.from({ length: 1 + Math.floor(r() * 400) }, () => Math.floor(r() * 256))
      const reader = new RequestFrameReader(LIMITS, {
        frame: (kind, _id, payload) => { expect(payload.byteLength).toBeLessThanOrEqual(LIMITS[kind]) },
        oversized: () => {}
      })
      try {
        reader.push(garbage)
      } catch (err: any) {
        expect(['ProtocolError', 'InvalidFrameError']).toContain(err.name)
      }
    }
  })
})
