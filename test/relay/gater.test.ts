/**
 * The relay's connection gater alone: per-address rate and cap, the allow
 * list, and bad allow entries. Sockets are stubs with a remote address, a
 * timeline and a 'close' event, which is all the gater reads.
 */
import { InvalidParametersError } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createConnectionGater, type ConnectionGaterInit } from '../../relay/gater.js'
import { recordingLogger, type RecordingLogger } from '../helpers/logger.js'
import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface'

interface FakeSocket extends MultiaddrConnection {
  close(): Promise<void>
}

function socket (addr: string): FakeSocket {
  const events = new EventTarget()
  const timeline: { open: number, close?: number } = { open: Date.now() }
  const fake = {
    remoteAddr: multiaddr(addr),
    timeline,
    addEventListener: events.addEventListener.bind(events),
    removeEventListener: events.removeEventListener.bind(events),
    close: async () => {
      timeline.close = Date.now()
      events.dispatchEvent(new Event('close'))
    }
  }
  return fake as unknown as FakeSocket
}

let log: RecordingLogger

function gater (init: Partial<ConnectionGaterInit> = {}): ConnectionGater {
  return createConnectionGater({ logger: log.logger }, {
    allow: [],
    maxConnectionsPerIp: 3,
    inboundConnectionThreshold: 1000,
    ...init
  })
}

async function admit (g: ConnectionGater, addr: string): Promise<{ denied: boolean, socket: FakeSocket }> {
  const s = socket(addr)
  return { denied: await g.denyInboundConnection!(s), socket: s }
}

beforeEach(() => {
  log = recordingLogger()
})

afterEach(() => {
  vi.useRealTimers()
})

describe('relay connection gater', () => {
  it('caps open connections per IP address, counting ones still in their handshake', async () => {
    const g = gater({ maxConnectionsPerIp: 3 })
    const results = await Promise.all([1, 2, 3, 4, 5].map(async i => admit(g, `/ip4/203.0.113.7/tcp/${4000 + i}/ws`)))
    expect(results.map(r => r.denied)).toEqual([false, false, false, true, true])
    // another address has its own budget
    expect((await admit(g, '/ip4/203.0.113.8/tcp/4000/ws')).denied).toBe(false)
    expect(log.find('libp2p-messenger:relay:gater', /connections open from there/)).toHaveLength(2)
  })

  it('frees a slot when an admitted connection closes', async () => {
    const g = gater({ maxConnectionsPerIp: 1 })
    const first = await admit(g, '/ip4/203.0.113.7/tcp/4001/ws')
    expect(first.denied).toBe(false)
    expect((await admit(g, '/ip4/203.0.113.7/tcp/4002/ws')).denied).toBe(true)
    await first.socket.close()
    expect((await admit(g, '/ip4/203.0.113.7/tcp/4003/ws')).denied).toBe(false)
  })

  it('drops sockets that closed without a close event from the count', async () => {
    const g = gater({ maxConnectionsPerIp: 1 })
    const first = await admit(g, '/ip4/203.0.113.7/tcp/4001/ws')
    ;(first.socket.timeline as { close?: number }).close = Date.now()
    expect((await admit(g, '/ip4/203.0.113.7/tcp/4002/ws')).denied).toBe(false)
  })

  it('limits new connections per second per IP address', async () => {
    vi.useFakeTimers()
    const g = gater({ maxConnectionsPerIp: 0, inboundConnectionThreshold: 2 })
    const addr = '/ip6/2001:db8::1/tcp/4001/ws'
    const burst = []
    for (let i = 0; i < 4; i++) burst.push((await admit(g, addr)).denied)
    expect(burst).toEqual([false, false, true, true])
    expect(log.find('libp2p-messenger:relay:gater', /too many new connections per second/)).toHaveLength(2)
    // a second later the address may connect again
    vi.advanceTimersByTime(1_100)
    expect((await admit(g, addr)).denied).toBe(false)
  })

  it('has no per-address cap when maxConnectionsPerIp is 0', async () => {
    const g = gater({ maxConnectionsPerIp: 0 })
    const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => admit(g, `/ip4/203.0.113.7/tcp/${5000 + i}/ws`)))
    expect(results.every(r => !r.denied)).toBe(true)
  })

  it('exempts allowed networks from both limits', async () => {
    const g = gater({ allow: ['127.0.0.0/8', '::1/128', '198.51.100.0/24'], maxConnectionsPerIp: 1, inboundConnectionThreshold: 1 })
    for (const addr of ['/ip4/127.0.0.1/tcp/1/ws', '/ip6/::1/tcp/1/ws', '/ip4/198.51.100.20/tcp/1/ws']) {
      const results = await Promise.all(Array.from({ length: 5 }, async () => admit(g, addr)))
      expect(results.every(r => !r.denied)).toBe(true)
    }
    // just outside the /24
    const outside = await Promise.all(Array.from({ length: 3 }, async () => admit(g, '/ip4/198.51.101.20/tcp/1/ws')))
    expect(outside.map(r => r.denied)).toEqual([false, true, true])
  })

  it('accepts a single address in allow', async () => {
    const g = gater({ allow: ['203.0.113.9'], maxConnectionsPerIp: 1 })
    const results = await Promise.all(Array.from({ length: 3 }, async () => admit(g, '/ip4/203.0.113.9/tcp/1/ws')))
    expect(results.every(r => !r.denied)).toBe(true)
  })

  it('lets connections without an IP address through', async () => {
    const g = gater({ maxConnectionsPerIp: 1 })
    const results = await Promise.all(Array.from({ length: 3 }, async () => admit(g, '/dns4/example.com/tcp/443/wss')))
    expect(results.every(r => !r.denied)).toBe(true)
  })

  it('refuses an allow entry that is not an IP network', () => {
    expect(() => gater({ allow: ['example.com'] })).toThrow(InvalidParametersError)
    expect(() => gater({ allow: ['10.0.0.0/33'] })).toThrow(InvalidParametersError)
    expect(() => gater({ allow: ['::/129'] })).toThrow(InvalidParametersError)
    expect(() => gater({ allow: ['10.0.0.0/x'] })).toThrow(/bad prefix length in 10.0.0.0\/x/)
  })
})
