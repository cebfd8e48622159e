/**
 * Hostile and broken input: fuzzing the wire decoders (unit and over real
 * streams), a flooding peer, too many streams, plaintext connections.
 * Every bad stream is reset, memory stays bounded, other peers are served,
 * and nothing already queued is lost.
 */
import { describe, it, expect } from 'vitest'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { plaintext } from '@libp2p/plaintext'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { encodeUint8Array, encodingLength } from 'uint8-varint'
import { createMessenger, json, string, FrameTooLargeError, InvalidFrameError, type ErrorDetail } from '../../src/index.js'
import { createRequestor } from '../../src/request/index.js'
import { FrameDecoder, frame } from '../../src/core/framing.js'
import { createNodes, connect, introduce, until, stopAfterEach } from '../helpers/nodes.js'
import type { Stream } from '@libp2p/interface'

const PROTOCOL = '/hostile-test/1.0.0'

const live = stopAfterEach()

/** A seeded PRNG so a failure can be replayed. */
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6D2B79F5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Inputs of every kind the issue names. */
function fuzzInput (r: () => number, max: number): Uint8Array {
  const kind = Math.floor(r() * 7)
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(r() * 256))
  const valid = (count: number): Uint8Array => {
    const parts = Array.from({ length: count }, () => frame(bytes(Math.floor(r() * Math.min(max, 300)))))
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
    let o = 0
    for (const p of parts) { out.set(p, o); o += p.byteLength }
    return out
  }
  switch (kind) {
    case 0: return bytes(1 + Math.floor(r() * 2000)) // random bytes
    case 1: { // valid frames with bit flips
      const v = valid(1 + Math.floor(r() * 5))
      for (let i = 0; i < 1 + r() * 4; i++) v[Math.floor(r() * v.length)] ^= 1 << Math.floor(r() * 8)
      return v
    }
    case 2: { // valid frames, truncated
      const v = valid(1 + Math.floor(r() * 5))
      return v.subarray(0, Math.floor(r() * v.length))
    }
    case 3: return Uint8Array.from({ length: 4 + Math.floor(r() * 12) }, (_, i) => i < 3 ? 0x80 | Math.floor(r() * 128) : 0x80 | Math.floor(r() * 128)) // over-long varint
    case 4: { // a huge length prefix, then some bytes
      const n = max + 1 + Math.floor(r() * 2 ** 31)
      const prefix = new Uint8Array(encodingLength(n))
      encodeUint8Array(n, prefix, 0)
      return new Uint8Array([...prefix, ...bytes(Math.floor(r() * 64))])
    }
    case 5: { // non-minimal varint
      return new Uint8Array([0x80 | Math.floor(r() * 128), 0x00, ...bytes(8)])
    }
    default: return valid(1 + Math.floor(r() * 8)) // valid frames (garbage payloads for a codec)
  }
}

/** A straightforward reference decoder: what FrameDecoder must agree with. */
function oracle (input: Uint8Array, max: number): { frames: Uint8Array[], error?: string, truncated: boolean } {
  const frames: Uint8Array[] = []
  const maxPrefix = encodingLength(max)
  let pos = 0
  while (pos < input.length) {
    let value = 0
    let i = 0
    let complete = false
    while (pos + i < input.length) {
      const b = input[pos + i]
      value += (b & 0x7f) * 2 ** (7 * i)
      i++
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 1) return { frames, error: 'InvalidFrameError', truncated: false }
        complete = true
        break
      }
      if (i >= maxPrefix) return { frames, error: 'InvalidFrameError', truncated: false }
    }
    if (!complete) return { frames, truncated: true }
    if (value > max) return { frames, error: 'FrameTooLargeError', truncated: false }
    if (pos + i + value > input.length) return { frames, truncated: true }
    frames.push(input.subarray(pos + i, pos + i + value))
    pos += i + value
  }
  return { frames, truncated: false }
}

function equal (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i])
}

describe('fuzz: the frame decoder against a reference, in random chunks', () => {
  it('200,000 random and mutated inputs: same frames, same typed error, never a frame over the limit', () => {
    const r = rng(1)
    let inputs = 0
    let errors = 0
    let oversized = 0
    const mismatches: Uint8Array[] = []
    for (; inputs < 200_000; inputs++) {
      const max = [100, 1000, 1 << 20][inputs % 3]
      const input = fuzzInput(r, max)
      const want = oracle(input, max)
      const decoder = new FrameDecoder(max)
      const got: Uint8Array[] = []
      let error: string | undefined
      try {
        for (let pos = 0; pos < input.length;) {
          const n = 1 + Math.floor(r() * 64)
          decoder.push(input.subarray(pos, pos + n), (f) => {
            if (f.byteLength > max) oversized++
            got.push(f.slice())
          })
          pos += n
        }
      } catch (err: any) {
        // only the two typed errors, never anything else
        error = err instanceof FrameTooLargeError || err instanceof InvalidFrameError ? err.name : `unexpected ${err}`
      }
      if (error != null) errors++
      if (error !== want.error || (error == null && decoder.midFrame !== want.truncated) || got.length !== want.frames.length || got.some((f, i) => !equal(f, want.frames[i]))) {
        mismatches.push(input)
      }
    }
    expect(mismatches).toEqual([])
    expect(oversized).toBe(0)
    console.info(`decoder fuzz: ${inputs} inputs, ${errors} rejected with a typed error`)
  })
})

describe('fuzz over real streams', () => {
  for (const delivery of ['default', 'confirmed'] as const) {
    it(`${delivery} mode: 300 hostile streams are each reset or read; the good peer's traffic is untouched; nothing is retained`, async () => {
      live.nodes = await createNodes(3)
      const [bad, b, good] = live.nodes
      const codec = json<{ i: number }>()
      const mb = createMessenger<{ i: number }>(b, { protocol: PROTOCOL, codec, delivery, maxMessageSize: 1000 })
      const mgood = createMessenger<{ i: number }>(good, { protocol: PROTOCOL, codec, delivery, maxMessageSize: 1000 })
      live.messengers.push(mb, mgood)
      await Promise.all([mb.ready, mgood.ready])
      const errors: ErrorDetail[] = []
      mb.addEventListener('error', (e) => errors.push(e.detail))
      await introduce(good, b)
      await introduce(b, good)
      await connect(bad, b)
      const wire = delivery === 'confirmed' ? `${PROTOCOL}/confirmed` : PROTOCOL
      const heapBefore = process.memoryUsage().heapUsed

      const n = 2000
      const fromGood: number[] = []
      const atGood: number[] = []
      const reading = (async () => {
        // the application reads everything; the hostile peer's valid frames are just messages
        for await (const { from, data } of mb) {
          if (from.equals(good.peerId)) fromGood.push(data.i)
          if (fromGood.length === n) break
        }
      })()
      const readingGood = (async () => {
        for await (const { data } of mgood) { atGood.push(data.i); if (atGood.length === n) break }
      })()
      let sent = 0
      const sender = setInterval(() => {
        for (let k = 0; k < 20 && sent < n; k++, sent++) { mgood.send(b.peerId, { i: sent }); mb.send(good.peerId, { i: sent }) }
      }, 5)

      const r = rng(delivery === 'default' ? 2 : 3)
      let resets = 0
      for (let s = 0; s < 300; s++) {
        const stream: Stream = await bad.dialProtocol(b.peerId, wire)
        const closed = new Promise<Error | undefined>((resolve) => stream.addEventListener('close', (e: any) => resolve(e.error), { once: true }))
        try {
          stream.send(fuzzInput(r, 1000))
          await stream.close()
        } catch {}
        const err = await Promise.race([closed, new Promise<undefined>(resolve => setTimeout(resolve, 2000))])
        if (err != null) resets++
      }
      await until(() => sent === n, 30_000, 'sending')
      clearInterval(sender)
      await Promise.all([reading, readingGood])
      expect(fromGood).toEqual(Array.from({ length: n }, (_, i) => i))
      expect(atGood).toEqual(Array.from({ length: n }, (_, i) => i))
      // the hostile peer's streams are gone, and nothing of theirs is held
      await until(() => b.getConnections(bad.peerId).flatMap(c => c.streams).filter(st => st.protocol === wire).length === 0, 5000, 'hostile streams released')
      const lanes = [...((mb as any).inbound as Map<string, any>).values()].filter(l => l.peer.equals(bad.peerId))
      expect(lanes.every(l => l.streams === 0)).toBe(true)
      const grew = process.memoryUsage().heapUsed - heapBefore
      expect(grew).toBeLessThan(64 * 1024 * 1024)
      expect(errors.filter(e => e.peer?.equals(bad.peerId)).length).toBeGreaterThan(100)
      expect(errors.filter(e => e.peer?.equals(good.peerId))).toEqual([])
      console.info(`${delivery} stream fuzz: 300 hostile streams, ${errors.length} rejected with an error event (${resets} still open on the hostile side when reset), heap +${Math.round(grew / 1e6)} MB`)
    })
  }
})

describe('fuzz: request/response', () => {
  for (const wire of ['multiplexed', 'stream'] as const) {
    it(`${wire} wire: 300 hostile streams; the good client's requests all succeed; no handler slot is left taken`, async () => {
      const [bad, server, good] = live.nodes = await createNodes(3)
      const api = createRequestor<{ n: number }, { n: number }>(server, { protocol: PROTOCOL, requestCodec: json(), responseCodec: json(), maxRequestSize: 1000, handler: async ({ n }) => ({ n: n * 2 }) })
      const client = createRequestor<{ n: number }, { n: number }>(good, { protocol: PROTOCOL, requestCodec: json(), responseCodec: json(), mode: wire })
      live.messengers.push(api, client)
      await Promise.all([api.ready, client.ready])
      await introduce(good, server)
      await connect(bad, server)
      const r = rng(wire === 'multiplexed' ? 4 : 5)
      const answers: Array<Promise<{ n: number }>> = []
      for (let s = 0; s < 300; s++) {
        if (s % 3 === 0) answers.push(client.request(server.peerId, { n: s }))
        try {
          const stream: Stream = await bad.dialProtocol(server.peerId, wire === 'multiplexed' ? `${PROTOCOL}/mux` : PROTOCOL)
          stream.send(fuzzInput(r, 1000))
          await stream.close()
        } catch {}
      }
      const got = await Promise.all(answers)
      expect(got.map(g => g.n)).toEqual(Array.from({ length: 100 }, (_, i) => i * 6))
      await until(() => api.handling(bad.peerId) === 0, 10_000, 'hostile handler slots released')
      await until(() => server.getConnections(bad.peerId).flatMap(c => c.streams).length === 0, 10_000, 'hostile streams released')
      console.info(`request/response ${wire} fuzz: 300 hostile streams, 100 good requests answered`)
    })
  }
})

describe('a peer that floods', () => {
  it('is held to its share: its streams pause, the buffered messages stay under the cap, other peers are unaffected', async () => {
    live.nodes = await createNodes(3)
    const [flood, b, good] = live.nodes
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string(), maxInboundMessages: 500 })
    const mgood = createMessenger<string>(good, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(mb, mgood)
    await Promise.all([mb.ready, mgood.ready])
    await introduce(good, b)
    await connect(flood, b)
    // the application only reads from the good peer
    const fromGood = mb.peer(good.peerId)
    const stream = await flood.dialProtocol(b.peerId, PROTOCOL)
    const chunk = new Uint8Array(64 * 1024)
    for (let o = 0; o < chunk.length; o += 64) { chunk[o] = 63; chunk.fill(0x61, o + 1, o + 64) } // 1024 frames of "aaa…"
    let written = 0
    const flooding = (async () => {
      for (let i = 0; i < 400; i++) { // up to 25 MiB, 400k messages, if nothing stops it
        if (!stream.send(chunk)) await new Promise(resolve => stream.addEventListener('drain', resolve, { once: true }))
        written += 1024
        if (stream.writeBufferLength > 8 * 1024 * 1024) break // the receiver stopped reading: back off
      }
    })()
    for (let i = 0; i < 1000; i++) mgood.send(b.peerId, `g${i}`)
    const got: string[] = []
    for (let i = 0; i < 1000; i++) got.push((await fromGood.receive({ signal: AbortSignal.timeout(10_000) })).data)
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => `g${i}`))
    await Promise.race([flooding, new Promise(resolve => setTimeout(resolve, 3000))])
    // the flooder's messages held for the application: exactly the cap (decoding stops there)
    const lane = [...((mb as any).inbound as Map<string, any>).values()].find(l => l.peer.equals(flood.peerId))
    expect(lane.buffered).toBe(500)
    const inbound = b.getConnections(flood.peerId).flatMap(c => c.streams).find(s => s.protocol === PROTOCOL)
    expect(inbound?.readStatus).toBe('paused')
    console.info(`flood: the flooder wrote ${written} messages, ${lane.buffered} are held for the application, the rest wait on its side`)
    stream.abort(new Error('done'))
  })

  it('too many streams at once: libp2p refuses those over the per-connection limit; the first ones still deliver', async () => {
    live.nodes = await createNodes(2)
    const [flood, b] = live.nodes
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string(), maxInboundStreams: 8 })
    live.messengers.push(mb)
    await mb.ready
    await connect(flood, b)
    const streams: Stream[] = []
    let refused = 0
    for (let i = 0; i < 40; i++) {
      try {
        const s = await flood.dialProtocol(b.peerId, PROTOCOL, { signal: AbortSignal.timeout(5000) })
        s.send(frame(new TextEncoder().encode(`hi ${i}`)))
        streams.push(s)
      } catch {
        refused++
      }
    }
    await new Promise(resolve => setTimeout(resolve, 500))
    const open = b.getConnections(flood.peerId).flatMap(c => c.streams).filter(s => s.protocol === PROTOCOL && s.status === 'open')
    expect(open.length).toBeLessThanOrEqual(8)
    expect(streams.length).toBeLessThanOrEqual(8)
    expect(refused).toBeGreaterThanOrEqual(32)
    // the first streams were accepted and read
    expect((await mb.receive({ signal: AbortSignal.timeout(5000) })).data).toBe('hi 0')
    const results = streams.map(value => ({ status: 'fulfilled' as const, value }))
    for (const r of results) if (r.status === 'fulfilled') r.value.abort(new Error('done'))
  })
})

describe('security', () => {
  it('a plaintext connection is refused: every connection is encrypted', async () => {
    live.nodes = await createNodes(1)
    const [b] = live.nodes
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(mb)
    await mb.ready
    const insecure = await createLibp2p({
      transports: [tcp()],
      connectionEncrypters: [plaintext()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    live.nodes.push(insecure)
    const refused = await insecure.dialProtocol(b.getMultiaddrs(), PROTOCOL, { signal: AbortSignal.timeout(5000) }).then(() => undefined, (err: Error) => err)
    // refused in the handshake: no connection encrypter in common
    expect(refused).toMatchObject({ name: 'EncryptionFailedError' })
    expect(b.getConnections(insecure.peerId)).toHaveLength(0)
    expect(mb.peers()).toHaveLength(0)
  })

  it('`from` is the authenticated remote peer of the connection: there is no sender field to forge', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const mb = createMessenger<string>(b, { protocol: PROTOCOL, codec: string() })
    live.messengers.push(mb)
    await mb.ready
    await connect(a, b)
    await until(() => b.getConnections(a.peerId).length > 0, 5000, 'connection')
    expect(b.getConnections(a.peerId)[0].encryption).toBe('/noise')
    // whatever a peer writes, it arrives as its own
    const s = await a.dialProtocol(b.peerId, PROTOCOL)
    s.send(frame(new TextEncoder().encode(`from ${b.peerId.toString()}`)))
    const msg = await mb.receive({ signal: AbortSignal.timeout(5000) })
    expect(msg.from.equals(a.peerId)).toBe(true)
  })
})
