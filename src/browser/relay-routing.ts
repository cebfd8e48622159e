/**
 * Peer routing through the configured relays: a peer known only by its id is
 * dialed as `<relay>/p2p-circuit/p2p/<id>`, on every relay, the ones we hold a
 * reservation on first (the peer most likely shares them). With it,
 * `send(peerId)` reaches a peer without rooms: libp2p asks the peer routing
 * for addresses when its peer store has none.
 *
 * A js-libp2p peer router: `peerRouters: [relayRouting({ relays })]`.
 */
import { NotFoundError } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { AbortOptions, PeerId, PeerInfo, PeerRouting } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface RelayRoutingInit {
  /** Relay multiaddrs, each ending in `/p2p/<relay id>`. */
  relays: string[]
}

export interface RelayRoutingComponents {
  addressManager: { getAddresses(): Multiaddr[] }
}

class RelayRouting implements PeerRouting {
  private readonly relays: Array<{ address: string, peer: string }>
  private readonly components: RelayRoutingComponents

  constructor (components: RelayRoutingComponents, init: RelayRoutingInit) {
    this.components = components
    this.relays = init.relays.map(address => ({
      address,
      peer: multiaddr(address).getComponents().findLast(c => c.name === 'p2p')?.value ?? ''
    }))
  }

  async findPeer (peer: PeerId, options?: AbortOptions): Promise<PeerInfo> {
    options?.signal?.throwIfAborted()
    const ours = this.components.addressManager.getAddresses().map(a => a.toString())
    const reserved = (r: { peer: string }): number => Number(ours.some(a => a.includes(`/p2p/${r.peer}/p2p-circuit`)))
    const id = peer.toString()
    const through = this.relays.filter(r => r.peer !== id).sort((a, b) => reserved(b) - reserved(a))
    if (through.length === 0) {
      throw new NotFoundError(`No relay to reach ${id} through`)
    }
    return { id: peer, multiaddrs: through.map(r => multiaddr(`${r.address}/p2p-circuit/p2p/${id}`)) }
  }

  /**
   * Relays know no "closest peers". This throws rather than yielding nothing:
   * libp2p's random walk (which circuit-relay's relay discovery runs) asks again
   * at once after an empty answer, and would spin the page; an error ends it.
   */
  async * getClosestPeers (): AsyncIterable<PeerInfo> {
    throw new NotFoundError('Relay routing finds peers by id only')
  }
}

/** Peer routing through the relays, as a js-libp2p peer router factory. */
export function relayRouting (init: RelayRoutingInit): (components: RelayRoutingComponents) => PeerRouting {
  return (components) => new RelayRouting(components, init)
}
