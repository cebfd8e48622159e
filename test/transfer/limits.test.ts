/**
 * A transfer over a relay's limited circuit (stock js-libp2p relay, default
 * limit of 128 KiB per relayed connection): one that cannot fit fails at
 * once with a typed error; one that fits arrives.
 */
import { describe, it, expect } from 'vitest'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { createMessenger, string } from '../../src/index.js'
import { createTransfers, TransferTooLargeError } from '../../src/transfer/index.js'
import { until, stopAfterEach, type TestNode } from '../helpers/nodes.js'

const live = stopAfterEach()

describe('transfers over a limited (relayed) connection', () => {
  it('one larger than what the circuit may carry throws TransferTooLargeError before sending; a small one arrives', async () => {
    const relay = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // js-libp2p's default: every relayed connection may carry 128 KiB, for 2 minutes
      services: { identify: identify(), relay: circuitRelayServer() }
    })
    const peer = async (): Promise<TestNode> => await createLibp2p({
      addresses: { listen: [`${relay.getMultiaddrs()[0].toString()}/p2p-circuit`] },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    const a = await peer()
    const b = await peer()
    live.nodes.push(relay, a, b)
    await until(() => b.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), 10_000, 'reservation')
    const ma = createMessenger<string>(a, { protocol: '/limits/1.0.0', codec: string() })
    const mb = createMessenger<string>(b, { protocol: '/limits/1.0.0', codec: string() })
    live.messengers.push(ma, mb)
    const ta = createTransfers(ma, {})
    const tb = createTransfers(mb, {})
    let received: Promise<Blob> | undefined
    tb.addEventListener('offer', (e) => { received = e.detail.accept().done })
    await a.dial(b.getMultiaddrs().find(addr => addr.toString().includes('/p2p-circuit'))!)
    await until(() => ma.peers().length === 1, 10_000, 'b joins a')
    const limits = ma.limits(b.peerId)
    expect(limits?.bytes).toBeGreaterThan(0n)
    expect(limits?.bytes).toBeLessThanOrEqual(131_072n)
    expect(() => ta.send(b.peerId, new Uint8Array(1 << 20), { name: 'big.bin' })).toThrow(TransferTooLargeError)
    expect(ta.list()).toHaveLength(0)
    const small = new Uint8Array(10_000).map((_, i) => i % 251)
    const sent = ta.send(b.peerId, small, { name: 'small.bin' })
    await sent.done
    await until(() => received != null, 10_000, 'the offer')
    const blob = await received!
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(small)
    await ta.stop()
    await tb.stop()
  })
})
