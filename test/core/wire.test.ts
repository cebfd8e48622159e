/**
 * The wire format is just varint-length-prefixed frames: a plain js-libp2p
 * node with `lpStream` from @libp2p/utils speaks it both ways. Bad input on a
 * stream resets that stream and nothing else.
 */
import { describe, it, expect } from 'vitest'
import { lpStream } from '@libp2p/utils'
import { createMessenger, bytes, string, json, type ErrorDetail } from '../../src/index.js'
import { createNodes, connect, introduce, until, stopAfterEach } from '../helpers/nodes.js'
import type { Stream } from '@libp2p/interface'

const PROTOCOL = '/wire-test/1.0.0'

const live = stopAfterEach()

function payload (i: number, size: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let j = 0; j < size; j++) out[j] = (i * 31 + j) & 0xff
  return out
}

describe('wire format', () => {
  it('a plain node reading with lpStream receives exactly the bytes the messenger sent', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const ma = createMessenger<Uint8Array>(a, { protocol: PROTOCOL, codec: bytes() })
    live.messengers.push(ma)
    const received: Uint8Array[] = []
    const sizes = [1, 100, 1000, 70_000, 5, 300_000, 2]
    await b.handle(PROTOCOL, async (stream) => {
      const lp = lpStream(stream, { maxDataLength: 1 << 20 })
      for (let i = 0; i < sizes.length; i++) {
        received.push(new Uint8Array((await lp.read()).subarray()))
      }
    })
    await ma.ready
    await introduce(a, b)
    sizes.forEach((size, i) => ma.send(b.peerId, payload(i, size)))
    await until(() => received.length === sizes.length, 10_000, 'lpStream reads')
    sizes.forEach((size, i) => expect(received[i]).toEqual(payload(i, size)))
  })

  it('the messenger receives the frames a plain node writes with lpStream', async () => {
    live.nodes = await createNodes(2)
    const [a, b] = live.nodes
    const mb = createMessenger<Uint8Array>(b, { protocol: PROTOCOL, codec: bytes() })
    live.messengers.push(mb)
    await mb.ready
    await connect(a, b)
    const stream = await a.dialProtocol(b.peerId, PROTOCOL)
    const lp = lpStream(stream)
    const sizes = [3, 0, 65_536, 1, 200_000]
    for (let i = 0; i < sizes.length; i++) await lp.write(payload(i, sizes[i]))
    await stream.close()
    for (let i = 0; i < sizes.length; i++) {
      const { data, from } = await mb.receive({ signal: AbortSignal.timeout(5000) })
      expect(from.equals(a.peerId)).toBe(true)
      expect(data).toEqual(payload(i, sizes[i]))
    }
  })
})

describe('bad input on the wire', () => {
  const cases: Array<{ name: string, bytes: () => Uint8Array, error: string, codec?: 'string' | 'json' }> = [
    { name: 'random bytes', bytes: () => { const r = new Uint8Array(4096); crypto.getRandomValues(r); r[0] = 0xff; r[1] = 0xff; r[2] = 0xff; return r }, error: 'InvalidFrameError' },
    { name: 'an over-long varint', bytes: () => new Uint8Array(12).fill(0x80), error: 'InvalidFrameError' },
    { name: 'a huge length prefix (2^32)', bytes: () => new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x10, 1, 2, 3]), error: 'InvalidFrameError' },
    { name: 'a length just over the limit', bytes: () => new Uint8Array([0x81, 0x80, 0x40]), error: 'FrameTooLargeError' },
    { name: 'a truncated frame', bytes: () => new Uint8Array([100, 1, 2, 3]), error: 'TruncatedFrameError' },
    { name: 'invalid UTF-8 for the string codec', bytes: () => new Uint8Array([2, 0xc3, 0x28]), error: 'MalformedMessageError', codec: 'string' },
    { name: 'garbage for the JSON codec', bytes: () => new Uint8Array([3, 0x7b, 0x7b, 0x7b]), error: 'MalformedMessageError', codec: 'json' }
  ]

  for (const c of cases) {
    it(`${c.name}: resets that stream; other peers and queued messages are untouched`, async () => {
      live.nodes = await createNodes(3)
      const [bad, b, good] = live.nodes
      const codec: any = c.codec === 'json' ? json() : string()
      const mb = createMessenger<any>(b, { protocol: PROTOCOL, codec })
      const mgood = createMessenger<any>(good, { protocol: PROTOCOL, codec })
      live.messengers.push(mb, mgood)
      await Promise.all([mb.ready, mgood.ready])
      const errors: ErrorDetail[] = []
      mb.addEventListener('error', (e) => errors.push(e.detail))
      await introduce(good, b)
      await introduce(b, good)
      const msg = (i: number): any => c.codec === 'json' ? { i } : `m${i}`
      // traffic in both directions with a well-behaved peer, before and after
      for (let i = 0; i < 50; i++) { mgood.send(b.peerId, msg(i)); mb.send(good.peerId, msg(i)) }

      await connect(bad, b)
      const stream: Stream = await bad.dialProtocol(b.peerId, PROTOCOL)
      const closed = new Promise<Error | undefined>((resolve) => stream.addEventListener('close', (e: any) => resolve(e.error), { once: true }))
      stream.send(c.bytes())
      if (c.name === 'a truncated frame') await stream.close()

      for (let i = 50; i < 100; i++) { mgood.send(b.peerId, msg(i)); mb.send(good.peerId, msg(i)) }
      const fromGood: any[] = []
      const atGood: any[] = []
      for (let i = 0; i < 100; i++) fromGood.push((await mb.receive({ signal: AbortSignal.timeout(5000) })).data)
      for (let i = 0; i < 100; i++) atGood.push((await mgood.receive({ signal: AbortSignal.timeout(5000) })).data)
      const expected = Array.from({ length: 100 }, (_, i) => msg(i))
      expect(fromGood).toEqual(expected)
      expect(atGood).toEqual(expected)

      await until(() => errors.length > 0, 5000, 'error event')
      expect(errors[0].error.name).toBe(c.error)
      expect(errors[0].peer?.equals(bad.peerId)).toBe(true)
      const err = await closed
      if (c.name !== 'a truncated frame') {
        // the bad stream was reset by b (a truncated one had already ended both ways)
        expect(err?.name).toMatch(/Reset|Abort/)
      }
      // nothing from the bad peer reached the application
      await expect(mb.receive({ signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ name: 'TimeoutError' })
      // and the bad peer can still open a fresh stream and be heard
      const again = await bad.dialProtocol(b.peerId, PROTOCOL)
      const good1 = c.codec === 'json' ? new TextEncoder().encode('{"ok":1}') : new TextEncoder().encode('ok')
      await lpStream(again).write(good1)
      const r = await mb.receive({ signal: AbortSignal.timeout(5000) })
      expect(r.from.equals(bad.peerId)).toBe(true)
    })
  }
})
