/**
 * Keeps the relay connected to other relays (`--peer`), so that rooms span
 * relays: gossipsub runs over these links like over any other connection.
 *
 * libp2p's own reconnect queue (peers tagged `KEEP_ALIVE`) gives up after five
 * retries and then removes the tag (node_modules/libp2p/dist/src/connection-manager/reconnect-queue.js),
 * and a relay that is down for a minute would be lost for good. So this dials
 * each address itself and re-dials it forever, with backoff, until `stop()`.
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** First retry delay after a failed dial or a lost link, in ms. */
const MIN_RETRY_DELAY = 1_000
/** Longest retry delay, in ms. */
const MAX_RETRY_DELAY = 30_000
/** How long one dial may take, in ms. */
const DIAL_TIMEOUT = 10_000
/** Connection manager tag: linked relays are never pruned first. */
const LINK_TAG = 'libp2p-messenger-relay-link'

interface Link {
  addr: Multiaddr
  /** from the address's /p2p/ part, or learned on the first connection */
  peerId?: string
  attempt: number
  timer?: ReturnType<typeof setTimeout>
  dialing: boolean
  connected: boolean
}

export class PeerLinks {
  private readonly node: Libp2p
  private readonly links: Link[]
  private readonly log: (line: string) => void
  private readonly controller = new AbortController()
  private running = false

  constructor (node: Libp2p, addrs: Multiaddr[], log: (line: string) => void) {
    this.node = node
    this.log = log
    this.links = addrs.map(addr => ({
      addr,
      peerId: addr.getComponents().findLast(c => c.name === 'p2p')?.value,
      attempt: 0,
      dialing: false,
      connected: false
    }))
    this.onDisconnect = this.onDisconnect.bind(this)
  }

  start (): void {
    this.running = true
    this.node.addEventListener('peer:disconnect', this.onDisconnect)
    for (const link of this.links) {
      if (link.peerId === this.node.peerId.toString()) {
        this.log(`relay ignoring --peer ${link.addr.toString()}: that is this relay`)
        continue
      }
      void this.dial(link)
    }
  }

  stop (): void {
    this.running = false
    this.controller.abort()
    this.node.removeEventListener('peer:disconnect', this.onDisconnect)
    for (const link of this.links) {
      clearTimeout(link.timer)
    }
  }

  /** Whether `peer` is one of the linked relays. */
  has (peer: PeerId): boolean {
    const id = peer.toString()
    return this.links.some(link => link.peerId === id)
  }

  /** How many linked relays are connected right now. */
  get connected (): number {
    return this.links.filter(link => link.connected).length
  }

  private async dial (link: Link): Promise<void> {
    if (!this.running || link.dialing) {
      return
    }
    link.dialing = true
    try {
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(DIAL_TIMEOUT)])
      const connection = await this.node.dial(link.addr, { signal })
      link.peerId = connection.remotePeer.toString()
      link.attempt = 0
      link.connected = true
      this.log(`relay linked to ${link.addr.toString()}`)
      // protect the link from the connection pruner
      await this.node.peerStore.merge(connection.remotePeer, {
        tags: { [LINK_TAG]: { value: 100 } }
      }).catch(() => {})
    } catch (err: any) {
      if (!this.running) {
        return
      }
      link.attempt++
      const delay = this.delay(link.attempt)
      if (link.attempt === 1 || link.attempt % 10 === 0) {
        this.log(`relay could not link to ${link.addr.toString()} (${err?.message ?? err}); retrying in ${Math.round(delay / 1000)} s`)
      }
      this.retry(link, delay)
    } finally {
      link.dialing = false
    }
  }

  private onDisconnect (evt: CustomEvent<PeerId>): void {
    const id = evt.detail.toString()
    for (const link of this.links) {
      if (link.peerId === id && link.connected) {
        link.connected = false
        this.log(`relay lost link to ${link.addr.toString()}; redialing`)
        this.retry(link, MIN_RETRY_DELAY)
      }
    }
  }

  private retry (link: Link, delay: number): void {
    if (!this.running) {
      return
    }
    clearTimeout(link.timer)
    link.timer = setTimeout(() => { void this.dial(link) }, delay)
    link.timer.unref?.()
  }

  private delay (attempt: number): number {
    const base = Math.min(MAX_RETRY_DELAY, MIN_RETRY_DELAY * 2 ** Math.min(attempt - 1, 10))
    // jitter, so relays restarted together do not dial in lockstep
    return Math.round(base * (0.75 + Math.random() * 0.5))
  }
}
