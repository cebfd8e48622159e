/**
 * The end-to-end test page: exposes `window.harness`, which Playwright drives
 * with page.evaluate(). Test-only setup lives here, never in the SDK.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { createBrowserNode, createMessenger, string, loadIdentity, openOutbox, indexedDBOutboxStore, localStorageReceipts, type BrowserNode, type Messenger, type DropDetail, type Outbox, type Identity } from '../../src/index.js'

interface StartOptions {
  relays: string[]
  room?: string
  protocol?: string
  /** make WebRTC impossible for this tab (ICE without candidates: 'relay' policy and no TURN) */
  blockWebRTC?: boolean
  webrtc?: boolean
  delivery?: 'default' | 'confirmed'
  /** identity in IndexedDB (one per tab, kept across reloads), outbox in IndexedDB, receipts in localStorage */
  persist?: boolean
  queueTtl?: number
}

declare global {
  // exposed by a test with page.exposeFunction: sees every message the application takes, across reloads
  // eslint-disable-next-line no-var
  var __record: ((from: string, data: string) => void) | undefined
}

interface Got { from: string, data: string }

const state: {
  node?: BrowserNode
  messenger?: Messenger<string>
  outbox?: Outbox
  identity?: Identity
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
    const identity = opts.persist === true ? await loadIdentity() : undefined
    const node = await createBrowserNode({ relays: opts.relays, room: opts.room, allowInsecureRelays: true, webrtc: opts.webrtc, privateKey: identity?.privateKey })
    const outbox = opts.persist === true ? await openOutbox(indexedDBOutboxStore({ name: `libp2p-messenger/outbox/${node.peerId.toString()}` })) : undefined
    const messenger = createMessenger<string>(node, {
      protocol: opts.protocol ?? '/e2e/1.0.0',
      codec: string(),
      delivery: opts.delivery,
      outbox,
      receipts: opts.persist === true ? localStorageReceipts(node.peerId.toString()) : undefined,
      queueTtl: opts.queueTtl ?? Infinity
    })
    state.outbox = outbox
    state.identity = identity
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
        globalThis.__record?.(from.toString(), data)
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
  /** Send `count` messages `${prefix}${i}` (from `start`) to `peer`, known or not. */
  send (peer: string, prefix: string, count = 1, start = 0): number {
    const m = state.messenger
    if (m == null) throw new Error('not started')
    const p = peerIdFromString(peer)
    for (let i = start; i < start + count; i++) m.send(p, `${prefix}${i}`)
    return count
  },
  /** Send `count` messages, `batch` every `every` ms; resolves when all are queued. */
  async sendPaced (peer: string, prefix: string, count: number, batch: number, every: number): Promise<void> {
    for (let i = 0; i < count; i += batch) {
      harness.send(peer, prefix, Math.min(batch, count - i), i)
      await new Promise(resolve => setTimeout(resolve, every))
    }
  },
  async flush (): Promise<void> {
    await state.messenger?.flush()
  },
  slot: () => state.identity?.slot,
  async databases (): Promise<string[]> {
    return (await indexedDB.databases()).map(d => d.name ?? '')
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
    await state.outbox?.close()
    await state.node?.stop()
    state.identity?.release()
  }
}

declare global { interface Window { harness: typeof harness } }
window.harness = harness
