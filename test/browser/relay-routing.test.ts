/**
 * Reaching a peer by id through the relays, with a real js-libp2p node as the
 * consumer of the router (its dial queue and random walk are what call it).
 */
import { describe, it, expect, afterEach } from 'vitest'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { relayRouting } from '../../src/browser/relay-routing.js'
import { fakeComponents, peerIds, relayAddress } from '../helpers/components.js'

const nodes: Libp2p[] = []
afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => n.stop())) })

describe('relay routing', () => {
  it('finds a peer through every relay, those we hold a reservation on first; never through the peer itself', async () => {
    const [self, r0, r1, peer] = await peerIds(4, 70)
    const c = fakeComponents(self)
    const routing = relayRouting({ relays: [relayAddress(r0), relayAddress(r1)] })(c)
    c.addressManager.set(`${relayAddress(r1)}/p2p-circuit/p2p/${self.toString()}`)
    const info = await routing.findPeer(peer)
    expect(info.id.equals(peer)).toBe(true)
    expect(info.multiaddrs.map(m => m.toString())).toEqual([
      `${relayAddress(r1)}/p2p-circuit/p2p/${peer.toString()}`,
      `${relayAddress(r0)}/p2p-circuit/p2p/${peer.toString()}`
    ])
    const toRelay = await routing.findPeer(r0)
    expect(toRelay.multiaddrs.map(m => m.toString())).toEqual([`${relayAddress(r1)}/p2p-circuit/p2p/${r0.toString()}`])
  })

  it('in a node that listens on /p2p-circuit: the relay discovery\'s random walk ends instead of spinning, and a dial by id goes through the relay', async () => {
    const [r0] = await peerIds(1, 80)
    const relay = relayAddress(r0)
    const node = await createLibp2p({
      addresses: { listen: ['/p2p-circuit'] },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerRouters: [relayRouting({ relays: [relay] })],
      services: { identify: identify() }
    })
    nodes.push(node)
    // a spinning random walk starves timers: this one must fire on time
    const late = await new Promise<number>(resolve => { const t = Date.now(); setTimeout(() => { resolve(Date.now() - t - 200) }, 200) })
    expect(late).toBeLessThan(1_000)
    const [peer] = await peerIds(1, 90)
    const found = await node.peerRouting.findPeer(peer)
    expect(found.multiaddrs.map(m => m.toString())).toEqual([`${relay}/p2p-circuit/p2p/${peer.toString()}`])
  })
})
