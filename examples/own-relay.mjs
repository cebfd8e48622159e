// A minimal relay for libp2p-messenger built from stock js-libp2p parts: what
// README "Running the SDK with your own relay" lists, and nothing else.
//
//   node examples/own-relay.mjs [port]
//
// It prints its multiaddr; give it to createBrowserNode({ relays: [it], allowInsecureRelays: true })
// (plain ws:// on loopback: development only; put it behind TLS for production).
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'

// js-libp2p v3 calls Promise.withResolvers, which Node 20 lacks (Node 22+ has it)
Promise.withResolvers ??= function () {
  let resolve, reject
  const promise = new Promise((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  return { promise, resolve, reject }
}

const port = Number(process.argv[2] ?? 9090)
const ROOM_PREFIX = 'libp2p-messenger/room/'

const node = await createLibp2p({
  addresses: { listen: [`/ip4/127.0.0.1/tcp/${port}/ws`] },
  transports: [webSockets()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionManager: {
    // every browser of a room connects at once, and relayed peers all come from the relay's address
    inboundConnectionThreshold: 100,
    maxConnections: 1000
  },
  services: {
    identify: identify(),
    ping: ping(),
    relay: circuitRelayServer({
      reservations: {
        maxReservations: 1000,
        // js-libp2p's default limit (2 min, 128 KiB per relayed connection) cuts the relayed
        // fallback mid-conversation; the SDK copes, but reconnects every time
        applyDefaultLimit: false
      }
    }),
    pubsub: gossipsub({
      allowPublishToZeroTopicPeers: true,
      // many browsers share an address (a NAT, a proxy, loopback): gossipsub's colocation
      // penalty would drop them from the mesh after about five, and rooms stop working
      scoreParams: { IPColocationFactorWeight: 0 }
    })
  }
})

// gossipsub forwards only topics it is subscribed to itself: follow every room a peer joins
const pubsub = node.services.pubsub
pubsub.addEventListener('subscription-change', (evt) => {
  for (const { topic, subscribe } of evt.detail.subscriptions) {
    if (subscribe && topic.startsWith(ROOM_PREFIX) && !pubsub.getTopics().includes(topic)) {
      pubsub.subscribe(topic)
    }
  }
})

console.log(node.getMultiaddrs()[0].toString())
const stop = async () => { await node.stop(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
