// Two libp2p nodes in one process, a messenger on each: alice sends, bob receives.
// Run it: node examples/node-quickstart.mjs
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { createMessenger, json } from 'libp2p-messenger'

// a new options object for each node: libp2p writes the node's generated key into it,
// so two nodes made from one object would have the same PeerId
const options = () => ({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()]
})
const alice = await createLibp2p(options())
const bob = await createLibp2p(options())

const a = createMessenger(alice, { protocol: '/chat/1.0.0', codec: json() })
const b = createMessenger(bob, { protocol: '/chat/1.0.0', codec: json() })

// alice learns where bob listens (in an application: discovery, a relay, or an address you pass around)
await alice.peerStore.merge(bob.peerId, { multiaddrs: bob.getMultiaddrs() })

a.send(bob.peerId, { text: 'hello from alice' }) // returns at once: dials and opens a stream as needed

const { from, data } = await b.receive({ signal: AbortSignal.timeout(10_000) })
console.log(`bob received "${data.text}" from ${from.equals(alice.peerId) ? 'alice' : from.toString()}`)

await a.stop()
await b.stop()
await alice.stop()
await bob.stop()
