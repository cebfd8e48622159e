/**
 * The end-to-end test page: exposes `window.harness`, which Playwright drives
 * with page.evaluate(). Test-only setup lives here, never in the SDK.
 */
import { createBrowserNode, createMessenger, string, bytes, type BrowserNode, type Messenger, type DropDetail } from '../../src/index.js'

interface StartOptions {
  relays: string[]
  room?: string
  protocol?: string
  /** make WebRTC impossible for this tab (ICE without candidates: 'relay' policy and no TURN) */
  blockWebRTC?: boolean
  webrtc?: boolean
  delivery?: 'default' | 'confirmed'
}

interface Got { from: string, data: string }

const state: {
  node?: BrowserNode
  messenger?: Messenger<string>
  received: Got[]
  joins: string[]
  leaves: Array<{ peer: string, at: number }>
  drops: DropDetail[]
  errors: string[]
  firstMessageAt?: number
} = { received: [], joins: [], leaves: [], drops: [], errors: [] }

// Loopback-only hosts: Chrome gathers ICE candidates there only after a media
// permission was granted (with --use-fake-ui-for-media-stream). Test page only.
const media = navigator.mediaDevices?.getUserMedia({ audio: true }).then((s) => { for (const t of s.getTracks()) t.stop() }).catch(() => {})

const harness = {
  async start (opts: StartOptions): Promise<string> {
    await media
    if (opts.blockWebRTC === true) {
      // as if behind a NAT that no STUN can traverse: ICE finds no usable candidate
      const Native = globalThis.RTCPeerConnection
      globalThis.RTCPeerConnection = class extends Native {
        constructor (config?: RTCConfiguration) { super({ ...config, iceServers: [], iceTransportPolicy: 'relay' }) }
      } as typeof RTCPeerConnection
    }
    const node = await createBrowserNode({ relays: opts.relays, room: opts.room, allowInsecureRelays: true, webrtc: opts.webrtc })
    const messenger = createMessenger<string>(node, { protocol: opts.protocol ?? '/e2e/1.0.0', codec: string(), delivery: opts.delivery })
    state.node = node
    state.messenger = messenger
    messenger.addEventListener('peer:join', (e) => { state.joins.push(e.detail.toString()) })
    messenger.addEventListener('peer:leave', (e) => { state.leaves.push({ peer: e.detail.toString(), at: Date.now() }) })
    messenger.addEventListener('drop', (e) => { state.drops.push(e.detail) })
    messenger.addEventListener('error', (e) => { state.errors.push(`${e.detail.error.name}: ${e.detail.error.message}`) })
    void (async () => {
      for await (const { from, data } of messenger) {
        state.firstMessageAt ??= Date.now()
        state.received.push({ from: from.toString(), data })
      }
    })()
    await messenger.ready
    document.getElementById('status')!.textContent = 'started'
    return node.peerId.toString()
  },
  /** The multiaddrs other tabs can reach us at (relayed and WebRTC). */
  addresses (): string[] {
    return state.node?.getMultiaddrs().map(a => a.toString()) ?? []
  },
  reserved (): boolean {
    return state.node?.services.relays.online ?? false
  },
  async dial (address: string): Promise<void> {
    const { multiaddr } = await import('@multiformats/multiaddr')
    await state.node?.dial(multiaddr(address), { signal: AbortSignal.timeout(15_000) })
  },
  peers (): string[] {
    return state.messenger?.peers().map(p => p.toString()) ?? []
  },
  connectionKind (peer: string): string | undefined {
    const p = state.messenger?.peers().find(x => x.toString() === peer)
    return p != null ? state.messenger?.peer(p).connection : undefined
  },
  /** Send `count` messages `${prefix}${i}` to `peer`. */
  send (peer: string, prefix: string, count = 1): number {
    const m = state.messenger
    const p = m?.peers().find(x => x.toString() === peer) ?? state.node?.getPeers().find(x => x.toString() === peer)
    if (m == null || p == null) throw new Error(`unknown peer ${peer}`)
    for (let i = 0; i < count; i++) m.send(p, `${prefix}${i}`)
    return count
  },
  broadcast (prefix: string, count = 1): number {
    let peers = 0
    for (let i = 0; i < count; i++) peers = state.messenger?.broadcast(`${prefix}${i}`).length ?? 0
    return peers
  },
  receivedCount (from?: string): number {
    return from == null ? state.received.length : state.received.filter(r => r.from === from).length
  },
  received (from?: string): string[] {
    return state.received.filter(r => from == null || r.from === from).map(r => r.data)
  },
  joins: () => state.joins,
  leaves: () => state.leaves,
  drops: () => state.drops.map(d => ({ ...d, peer: d.peer.toString() })),
  errors: () => state.errors,
  pending: () => state.messenger?.pending() ?? 0,
  lanes: () => [...((state.messenger as any)?.inbound?.values() ?? [])].map((l: any) => ({ streams: l.readers.length, full: l.full, buffered: l.buffered, ids: l.readers.map((r: any) => r.stream.id + ':' + r.stream.status + ':' + r.ended) })),
  connections: () => state.node?.getConnections().map(c => ({ peer: c.remotePeer.toString(), direct: c.direct, limited: c.limits != null, addr: c.remoteAddr.toString(), streams: c.streams.map(s => `${s.protocol} ${s.direction} ${s.status} r=${s.readStatus} w=${s.writeStatus} rw=${s.remoteWriteStatus} rb=${s.readBufferLength}`) })) ?? [],
  async stop (): Promise<void> {
    await state.messenger?.stop()
    await state.node?.stop()
  }
}

declare global { interface Window { harness: typeof harness } }
window.harness = harness
void bytes
