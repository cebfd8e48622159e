/**
 * The demo's network status, with no DOM: whether this tab is online, how
 * each peer is reached (relayed, direct, and on which path), in words the
 * page shows. The view (app.ts) renders what this says.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { connectionPath, type BrowserNode, type PeerPath } from '../src/browser/index.js'
import type { Messenger } from '../src/index.js'

/** Before the first relay reservation: "connecting", not "offline". */
const CONNECT_GRACE = 8_000

/** This tab's state: `relay-down` means the relay is gone but some peers are still reached directly. */
export type Net = 'connecting' | 'online' | 'relay-down' | 'offline'

/** How one peer is reached, for its badge. */
export interface PeerConnection {
  kind: 'direct' | 'relayed' | 'connecting' | 'offline'
  label: string
  /** the badge's tooltip */
  long: string
}

export class NetworkStatus {
  private readonly node: BrowserNode
  private readonly messenger: Messenger<unknown>
  private readonly startedAt = Date.now()
  private wasOnline = false
  /** Each peer's network path as last read. */
  private readonly paths = new Map<string, PeerPath>()
  private stopped = false

  constructor (node: BrowserNode, messenger: Messenger<any>) {
    this.node = node
    this.messenger = messenger
  }

  /** This tab's state now; `peersOnline`: how many peers are reached at all. */
  net (peersOnline: number): Net {
    const relay = this.node.services.relays.online
    const browser = navigator.onLine
    if (relay && browser) this.wasOnline = true
    if (!browser) return 'offline'
    if (relay) return 'online'
    if (!this.wasOnline && Date.now() - this.startedAt < CONNECT_GRACE) return 'connecting'
    return peersOnline > 0 ? 'relay-down' : 'offline'
  }

  /** How `id` is reached, in words. */
  peer (id: string, online: boolean): PeerConnection {
    if (!online) return { kind: 'offline', label: 'Offline', long: 'Offline — messages wait until they are back' }
    let kind: 'direct' | 'relayed' | undefined
    try {
      kind = this.messenger.connection(id)
    } catch {}
    if (kind === 'direct') return { kind, label: 'Direct · WebRTC', long: `Direct WebRTC connection, browser to browser${this.pathText(id)}` }
    if (kind === 'relayed') return { kind, label: 'Relayed', long: `Connected through the relay${this.pathText(id)}` }
    return { kind: 'connecting', label: 'Connecting', long: 'Connecting…' }
  }

  /**
   * The peer's connection changed: forget its path and read the new one (ICE
   * may take a moment to select a pair); `changed` runs once it is known.
   */
  async connectionChanged (id: string, connected: boolean, changed: () => void): Promise<void> {
    this.paths.delete(id)
    if (!connected) return
    for (let i = 0; i < 5 && !this.stopped; i++) {
      const path = await connectionPath(this.node, peerIdFromString(id)).catch(() => undefined)
      if (path != null) {
        this.paths.set(id, path)
        changed()
        return
      }
      await new Promise(resolve => setTimeout(resolve, 1_000))
    }
  }

  stop (): void {
    this.stopped = true
    this.paths.clear()
  }

  private pathText (id: string): string {
    const path = this.paths.get(id)
    if (path == null) return ''
    if (path.route === 'relayed') {
      const failed = this.node.services.direct.lastFailure(peerIdFromString(id))
      return ` (through ${path.relay})${failed != null ? `; direct WebRTC failed: ${failed.message}${failed.retrying ? ', trying again' : ''}` : ''}`
    }
    const how = path.kind === 'host' ? 'on the local network' : path.kind === 'srflx' ? 'through NATs (STUN)' : 'through a TURN server'
    return ` ${how}${path.rttMs != null ? `, ${path.rttMs} ms round trip` : ''}`
  }
}
