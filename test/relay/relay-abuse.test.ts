/**
 * The relay under abuse and under load: one peer is held to its per-peer
 * limits while others are still served; a relay with hundreds of reserved
 * peers keeps serving reservations, relayed connections and room discovery.
 */
import '../../relay/node-websocket.js'
import { describe, it, expect, afterAll, beforeAll } from 'vitest'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { createRelay, type Relay } from '../../relay/server.js'
import { createBrowserNode } from '../../src/browser/index.js'
import { createMessenger, string } from '../../src/index.js'
import { until } from '../helpers/nodes.js'
import type { Libp2p } from '@libp2p/interface'

let relay: Relay
const started: Libp2p[] = []

beforeAll(async () => {
  relay = await createRelay({ host: '127.0.0.1', port: 0, maxCircuitsPerPeer: 4 })
})

afterAll(async () => {
  await Promise.all(started.map(async n => n.stop()))
  await relay.stop()
})

const relayAddr = (): string => relay.multiaddrs.map(String).find(a => a.includes('/ws')) as string

/** A Node client reserved on the relay (listen count = how many reservations it asks for). */
async function client (reservations = 1): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: Array.from({ length: reservations }, () => '/p2p-circuit') },
    transports: [webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: async () => false },
    services: { identify: identify() }
  })
  started.push(node)
  await node.dial(multiaddr(relayAddr()))
  await until(() => node.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 10_000, 'reservation')
  return node
}

const circuitOf = (node: Libp2p): string => node.getMultiaddrs().map(String).find(a => a.includes('/p2p-circuit')) as string

describe('relay abuse', () => {
  it('one peer asking for many reservations holds one', async () => {
    const before = relay.status().reservations
    await client(5)
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(relay.status().reservations).toBe(before + 1)
  })

  it('one peer opening many relayed connections is held to the per-peer circuit limit; others are still served', async () => {
    const target = await client()
    const abuser = await client()
    // one after the other, each forced to be a new relayed connection
    const results: Array<PromiseSettledResult<any>> = []
    for (let i = 0; i < 12; i++) {
      results.push(...await Promise.allSettled([abuser.dial(multiaddr(circuitOf(target)), { force: true, signal: AbortSignal.timeout(10_000) })]))
    }
    const opened = new Set(results.filter(r => r.status === 'fulfilled').map(r => (r as PromiseFulfilledResult<any>).value.id)).size
    expect(opened).toBe(4)
    expect(results.filter(r => r.status === 'rejected')).toHaveLength(8)
    // a well-behaved peer still reserves and reaches the target through the relay
    const good = await client()
    const mt = createMessenger<string>(target, { protocol: '/abuse/1', codec: string() })
    const mg = createMessenger<string>(good, { protocol: '/abuse/1', codec: string() })
    await Promise.all([mt.ready, mg.ready])
    await good.dial(multiaddr(circuitOf(target)))
    mg.send(target.peerId, 'still served')
    expect((await mt.receive({ signal: AbortSignal.timeout(10_000) })).data).toBe('still served')
    await Promise.all([mt.stop(), mg.stop()])
  })
})

describe('relay under load', () => {
  it('with 300 reserved peers it still grants reservations, carries relayed messages and lets a room discover itself', async () => {
    const crowd: Libp2p[] = []
    for (let batch = 0; batch < 10; batch++) {
      crowd.push(...await Promise.all(Array.from({ length: 30 }, async () => client())))
    }
    expect(relay.status().reservations).toBeGreaterThanOrEqual(300)
    const [a, b] = await Promise.all([client(), client()])
    const ma = createMessenger<string>(a, { protocol: '/load/1', codec: string() })
    const mb = createMessenger<string>(b, { protocol: '/load/1', codec: string() })
    await Promise.all([ma.ready, mb.ready])
    await a.dial(multiaddr(circuitOf(b)))
    for (let i = 0; i < 200; i++) ma.send(b.peerId, `m${i}`)
    const got: string[] = []
    for (let i = 0; i < 200; i++) got.push((await mb.receive({ signal: AbortSignal.timeout(10_000) })).data)
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`))
    await Promise.all([ma.stop(), mb.stop()])

    // two nodes of the SDK's own preset join a room on the crowded relay: they find each other and talk
    const t0 = Date.now()
    const members = await Promise.all([0, 1].map(async () => createBrowserNode({ relays: [relayAddr()], room: 'load', webrtc: false, allowInsecureRelays: true })))
    started.push(...members)
    const [mx, my] = members.map(n => createMessenger<string>(n, { protocol: '/load/room/1', codec: string() }))
    await until(() => mx.peers().some(p => p.equals(members[1].peerId)) && my.peers().some(p => p.equals(members[0].peerId)), 20_000, 'room discovery')
    const found = Date.now() - t0
    mx.send(members[1].peerId, 'hello')
    expect((await my.receive({ signal: AbortSignal.timeout(10_000) })).data).toBe('hello')
    console.info(`relay under load: ${relay.status().reservations} reservations, ${relay.status().connections} connections; two room members found each other ${found} ms after starting`)
    await Promise.all([mx.stop(), my.stop()])
  }, 120_000)
})
