/**
 * The browser benchmark page: exposes `window.bench`, which bench/browser.ts
 * drives with page.evaluate(). Three ways to move the same bytes between two
 * tabs, measured side by side in the same run:
 *
 * - the messenger (createBrowserNode + createMessenger, bytes codec);
 * - a raw RTCDataChannel between the same two tabs, one `send()` per message,
 *   respecting `bufferedAmount` (its own RTCPeerConnection, signalled through
 *   the runner);
 * - a bare libp2p stream on the same direct WebRTC connection as the
 *   messenger, one length-prefixed frame per `send()` (for the diagnosis: what
 *   libp2p costs without the SDK).
 *
 * The receiving tab tells the sending tab that a round is complete over a
 * BroadcastChannel (both tabs share one browser context), so each round is
 * timed by the sender's own clock. Test-only setup lives here, never in the SDK.
 */
import { createBrowserNode, type BrowserNode } from '../../src/browser/index.js'
import { createMessenger, bytes, type Messenger } from '../../src/index.js'
import { frame, FrameDecoder } from '../../src/core/framing.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'

const PROTOCOL = '/bench/1.0.0'
const BARE = '/bench/bare/1.0.0'
/** Raw channel: stop sending above this many buffered bytes ... */
let RAW_HIGH_WATER = 1024 * 1024
/** ... and resume when 'bufferedamountlow' says it fell to this. */
const RAW_LOW_WATER = 256 * 1024

interface StartOptions {
  relays: string[]
  room?: string
  webrtc?: boolean
  /** send one message to every peer that joins (time-to-first-message case) */
  greet?: boolean
}

/** Absolute timestamps (ms since the epoch, sub-ms resolution), comparable across tabs. */
interface Marks {
  t0?: number
  nodeStarted?: number
  reserved?: number
  joined?: number
  sent?: number
  delivered?: number
  direct?: number
  /** the messenger's stream to the peer moved to the direct connection */
  directStream?: number
}

type Kind = 'messenger' | 'raw' | 'bare' | 'rawpc'

const now = (): number => performance.timeOrigin + performance.now()

// Loopback-only hosts: Chrome gathers ICE candidates there only after a media
// permission was granted (with --use-fake-ui-for-media-stream). Test page only.
const media = navigator.mediaDevices?.getUserMedia({ audio: true }).then((s) => { for (const t of s.getTracks()) t.stop() }).catch(() => {})

const state: {
  node?: BrowserNode
  messenger?: Messenger<Uint8Array>
  marks: Marks
  errors: string[]
  // receiver side of a throughput round
  armed?: { kind: Kind, round: string, count: number, got: number, bytes: number }
  // raw RTCDataChannel: on its own RTCPeerConnection, and (negotiated) on libp2p's
  pc?: RTCPeerConnection
  channel?: RTCDataChannel
  pcChannel?: RTCDataChannel
  // bare libp2p stream (sender side)
  bare?: Stream
  // instrumentation
  dc?: Record<string, { sends: number, bytes: number, tiny: number, sizes: Record<string, number> }>
  streamSends?: { calls: number, bytes: number }
} = { marks: {}, errors: [] }

const done = new BroadcastChannel('lp2pm-bench')

function received (kind: Kind, n: number, size: number): void {
  const a = state.armed
  if (a == null || a.kind !== kind) {
    return
  }
  a.got += n
  a.bytes += size
  if (a.got === a.count) {
    done.postMessage({ round: a.round, at: now() })
    state.armed = undefined
  }
}

function roundDone (round: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (evt: MessageEvent): void => {
      if (evt.data?.round === round) {
        done.removeEventListener('message', on)
        resolve()
      }
    }
    done.addEventListener('message', on)
  })
}

const messages = new Map<string, Array<Uint8Array<ArrayBuffer>>>()
function messagesOf (size: number, count: number): Array<Uint8Array<ArrayBuffer>> {
  const key = `${size}x${count}`
  let list = messages.get(key)
  if (list == null) {
    list = Array.from({ length: count }, (_, i) => {
      const m = new Uint8Array(size)
      m[0] = i & 0xff
      m[size - 1] = (i >> 8) & 0xff
      return m
    })
    messages.set(key, list)
  }
  return list
}

function peerOf (id: string): PeerId {
  const p = state.node?.getPeers().find(x => x.toString() === id)
  if (p == null) throw new Error(`unknown peer ${id}`)
  return p
}

function directConnection (id: string): Connection | undefined {
  return state.node?.getConnections().find(c => c.remotePeer.toString() === id && c.direct && c.status === 'open')
}

/** Wait until `stream` may take more: its own drain wait (onDrain() in @libp2p/utils 7.4.1 never waits again). */
async function drain (stream: Stream): Promise<void> {
  while (stream.writableNeedsDrain) {
    await new Promise<void>((resolve, reject) => {
      const ok = (): void => { stream.removeEventListener('close', closed); resolve() }
      const closed = (): void => { stream.removeEventListener('drain', ok); reject(new Error('stream closed')) }
      stream.addEventListener('drain', ok, { once: true })
      stream.addEventListener('close', closed, { once: true })
    })
  }
}

async function gathered (pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return
  await new Promise<void>((resolve) => {
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve() })
  })
}

function rawReceiver (channel: RTCDataChannel, kind: Kind = 'raw'): void {
  channel.binaryType = 'arraybuffer'
  channel.onmessage = (evt) => { received(kind, 1, (evt.data as ArrayBuffer).byteLength) }
}

function sizeOf (data: unknown): number {
  if (typeof data === 'string') return data.length
  if (data instanceof Blob) return data.size
  return (data as ArrayBuffer | ArrayBufferView).byteLength
}

const originalSend = RTCDataChannel.prototype.send

// Every RTCPeerConnection of this tab, libp2p's included (@libp2p/webrtc keeps
// its own reference to the constructor, so patch the prototype, not the global).
const pcs = new Set<RTCPeerConnection>()
const setLocalDescription = RTCPeerConnection.prototype.setLocalDescription
RTCPeerConnection.prototype.setLocalDescription = function (this: RTCPeerConnection, ...args: any[]) {
  pcs.add(this)
  return (setLocalDescription as any).apply(this, args)
} as typeof setLocalDescription

/** The connected RTCPeerConnection libp2p made (to the one other tab). */
function libp2pPc (): RTCPeerConnection | undefined {
  return [...pcs].reverse().find(pc => pc !== state.pc && pc.connectionState === 'connected')
}

async function opened (ch: RTCDataChannel): Promise<void> {
  if (ch.readyState === 'open') return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`data channel ${ch.label} did not open`)) }, 15_000)
    ch.addEventListener('open', () => { clearTimeout(timer); resolve() }, { once: true })
  })
}

const bench = {
  /** Start a node and a messenger; marks the way to a reservation, a peer, a message, a direct connection. */
  async start (opts: StartOptions): Promise<string> {
    await media
    const marks: Marks = state.marks = { t0: now() }
    const node = await createBrowserNode({ relays: opts.relays, room: opts.room, allowInsecureRelays: true, webrtc: opts.webrtc })
    marks.nodeStarted = now()
    state.node = node
    if (node.services.relays.online) marks.reserved = now()
    node.services.relays.addEventListener('reservation:change', (e) => { if (e.detail.reserved) marks.reserved ??= now() })
    node.addEventListener('connection:open', (e) => {
      // a WebRTC connection to another browser (the WebSocket to the relay is "direct" too)
      if (e.detail.direct && e.detail.remoteAddr.toString().includes('/webrtc')) marks.direct ??= now()
    })
    const messenger = createMessenger<Uint8Array>(node, {
      protocol: PROTOCOL,
      codec: bytes(),
      maxQueuedMessages: 1_000_000,
      maxQueuedBytes: 1 << 30,
      maxTotalQueuedBytes: 1 << 30,
      maxInboundMessages: 100_000,
      maxInboundBytes: 1 << 30
    })
    state.messenger = messenger
    messenger.addEventListener('peer:join', (e) => {
      marks.joined ??= now()
      if (opts.greet === true) {
        messenger.send(e.detail, new TextEncoder().encode('hello'))
        marks.sent ??= now()
      }
    })
    messenger.addEventListener('error', (e) => { state.errors.push(`${e.detail.error.name}: ${e.detail.error.message}`) })
    messenger.addEventListener('drop', (e) => { state.errors.push(`drop ${e.detail.count} ${e.detail.reason}`) })
    void (async () => {
      try {
        for await (const { data } of messenger) {
          marks.delivered ??= now()
          received('messenger', 1, data.byteLength)
        }
      } catch {}
    })()
    // bare libp2p stream: one frame per send() on the sender, decoded here
    await node.handle(BARE, (stream) => {
      const decoder = new FrameDecoder(1 << 20)
      stream.addEventListener('message', (evt) => {
        try {
          decoder.push(evt.data, (f) => { received('bare', 1, f.byteLength) })
        } catch (err: any) { stream.abort(err) }
      })
    })
    await messenger.ready
    document.getElementById('status')!.textContent = 'started'
    return node.peerId.toString()
  },
  marks: (): Marks => state.marks,
  errors: (): string[] => state.errors,
  reserved: (): boolean => state.node?.services.relays.online ?? false,
  peers: (): string[] => state.messenger?.peers().map(p => p.toString()) ?? [],
  /** How the messenger reaches `peer` now, and whether its stream runs on a direct connection. */
  route (peer: string): { connection?: string, stream?: string } {
    const m = state.messenger
    const p = m?.peers().find(x => x.toString() === peer)
    const conn = state.node?.getConnections().find(c => c.remotePeer.toString() === peer && c.streams.some(s => s.protocol === PROTOCOL && s.direction === 'outbound' && s.status === 'open'))
    return { connection: p != null ? m?.peer(p).connection : undefined, stream: conn == null ? undefined : conn.direct ? 'direct' : 'relayed' }
  },
  connections: () => state.node?.getConnections().map(c => ({ peer: c.remotePeer.toString(), direct: c.direct, limited: c.limits != null, addr: c.remoteAddr.toString(), streams: c.streams.map(s => `${s.protocol} ${s.direction} ${s.status}`) })) ?? [],

  /** Send one more small message to `peer` (it should go over the best connection). */
  ping (peer: string): void {
    state.messenger?.send(peerOf(peer), new TextEncoder().encode('again'))
  },

  // --- throughput: receiver ---

  /** Expect `count` messages of `kind`; the sender hears on the BroadcastChannel when they are all in. */
  arm (kind: Kind, round: string, count: number): void {
    state.armed = { kind, round, count, got: 0, bytes: 0 }
  },

  // --- throughput: sender (each returns the round's duration in ms) ---

  async runMessenger (peer: string, size: number, count: number, round: string): Promise<number> {
    const m = state.messenger as Messenger<Uint8Array>
    const p = peerOf(peer)
    const msgs = messagesOf(size, count)
    const finished = roundDone(round)
    const t0 = performance.now()
    for (const msg of msgs) m.send(p, msg)
    await finished
    return performance.now() - t0
  },

  async runRaw (size: number, count: number, round: string, onLibp2pPc = false): Promise<number> {
    const ch = (onLibp2pPc ? state.pcChannel : state.channel) as RTCDataChannel
    const msgs = messagesOf(size, count)
    const finished = roundDone(round)
    const t0 = performance.now()
    for (const msg of msgs) {
      if (ch.bufferedAmount > RAW_HIGH_WATER) {
        await new Promise<void>((resolve) => { ch.addEventListener('bufferedamountlow', () => { resolve() }, { once: true }) })
      }
      ch.send(msg)
    }
    await finished
    return performance.now() - t0
  },

  async runBare (peer: string, size: number, count: number, round: string): Promise<number> {
    let stream = state.bare
    if (stream == null || stream.status !== 'open') {
      const conn = directConnection(peer)
      if (conn == null) throw new Error('no direct connection for the bare stream')
      stream = state.bare = await conn.newStream(BARE)
    }
    const frames = messagesOf(size, count).map(frame)
    const finished = roundDone(round)
    const t0 = performance.now()
    for (const f of frames) {
      if (!stream.send(f)) await drain(stream)
    }
    await finished
    return performance.now() - t0
  },

  // --- raw RTCDataChannel signalling (the runner carries the SDP; no trickle ICE) ---

  async rawOffer (): Promise<string> {
    await media
    const pc = state.pc = new RTCPeerConnection({ iceServers: [] })
    const ch = state.channel = pc.createDataChannel('bench-raw', { ordered: true })
    ch.binaryType = 'arraybuffer'
    ch.bufferedAmountLowThreshold = RAW_LOW_WATER
    await pc.setLocalDescription(await pc.createOffer())
    await gathered(pc)
    return pc.localDescription?.sdp ?? ''
  },
  async rawAnswer (offer: string): Promise<string> {
    await media
    const pc = state.pc = new RTCPeerConnection({ iceServers: [] })
    pc.addEventListener('datachannel', (evt) => { state.channel = evt.channel; rawReceiver(evt.channel) })
    await pc.setRemoteDescription({ type: 'offer', sdp: offer })
    await pc.setLocalDescription(await pc.createAnswer())
    await gathered(pc)
    return pc.localDescription?.sdp ?? ''
  },
  async rawAccept (answer: string): Promise<void> {
    const pc = state.pc as RTCPeerConnection
    const ch = state.channel as RTCDataChannel
    await pc.setRemoteDescription({ type: 'answer', sdp: answer })
    await opened(ch)
  },
  /**
   * A raw channel on libp2p's own RTCPeerConnection to the other tab
   * (negotiated: both tabs call this, no signalling). Tells apart what the
   * connection costs from what libp2p's stream code costs.
   */
  async rawOnLibp2pPc (): Promise<boolean> {
    const pc = libp2pPc()
    if (pc == null) return false
    const ch = state.pcChannel = pc.createDataChannel('bench-raw-pc', { negotiated: true, id: 1001, ordered: true })
    ch.bufferedAmountLowThreshold = RAW_LOW_WATER
    rawReceiver(ch, 'rawpc')
    await opened(ch)
    return true
  },
  /** The selected ICE candidate pair of each connected RTCPeerConnection. */
  async pcStats (): Promise<Array<{ libp2p: boolean, pair?: string, rttMs?: number, channels?: number }>> {
    const out = []
    for (const pc of pcs) {
      if (pc.connectionState !== 'connected') continue
      const stats = await pc.getStats()
      let pair: any
      let channels = 0
      const byId = new Map<string, any>()
      stats.forEach((r: any) => {
        byId.set(r.id, r)
        if (r.type === 'candidate-pair' && (r.nominated === true || r.selected === true) && r.state === 'succeeded') pair ??= r
        if (r.type === 'data-channel' && r.state === 'open') channels++
      })
      const l = pair != null ? byId.get(pair.localCandidateId) : undefined
      const r = pair != null ? byId.get(pair.remoteCandidateId) : undefined
      out.push({
        libp2p: pc !== state.pc,
        pair: l != null && r != null ? `${l.protocol} ${l.address}:${l.port} (${l.candidateType}) -> ${r.address}:${r.port} (${r.candidateType})` : undefined,
        rttMs: pair?.currentRoundTripTime != null ? pair.currentRoundTripTime * 1000 : undefined,
        channels
      })
    }
    return out
  },

  // --- instrumentation (diagnostic rounds only; never during timed rounds) ---

  /** Count RTCDataChannel.send() calls per channel label, and the messenger's stream.send() calls to `peer`. */
  instrument (peer?: string): void {
    const dc: NonNullable<typeof state.dc> = state.dc = {}
    RTCDataChannel.prototype.send = function (this: RTCDataChannel, data: any) {
      const label = this.label === '' ? 'libp2p' : this.label
      const c = dc[label] ??= { sends: 0, bytes: 0, tiny: 0, sizes: {} }
      const n = sizeOf(data)
      c.sends++
      c.bytes += n
      if (n <= 8) c.tiny++
      const bucket = n <= 8 ? '<=8' : n <= 1024 ? '<=1K' : n <= 16 * 1024 ? '<=16K' : n <= 64 * 1024 ? '<=64K' : '>64K'
      c.sizes[bucket] = (c.sizes[bucket] ?? 0) + 1
      return originalSend.call(this, data)
    } as typeof originalSend
    const counts = state.streamSends = { calls: 0, bytes: 0 }
    if (peer != null) {
      for (const conn of state.node?.getConnections() ?? []) {
        if (conn.remotePeer.toString() !== peer) continue
        for (const s of conn.streams) {
          if (s.protocol !== PROTOCOL || s.direction !== 'outbound') continue
          const send = s.send.bind(s)
          ;(s as any).send = (data: Uint8Array) => { counts.calls++; counts.bytes += data.byteLength; return send(data) }
          ;(s as any).__benchRestore = () => { delete (s as any).send }
        }
      }
    }
  },
  uninstrument (): { dataChannel: typeof state.dc, streamSends: typeof state.streamSends } {
    RTCDataChannel.prototype.send = originalSend
    for (const conn of state.node?.getConnections() ?? []) {
      for (const s of conn.streams) (s as any).__benchRestore?.()
    }
    const out = { dataChannel: state.dc, streamSends: state.streamSends }
    state.dc = undefined
    state.streamSends = undefined
    return out
  },
  /**
   * Experiment: let the messenger's WebRTC stream to `peer` put up to `bytes`
   * in one data-channel message instead of @libp2p/webrtc's 16 KiB (what
   * `webRTC({ dataChannel: { maxMessageSize } })` would configure). 0 restores
   * the transport's own value.
   */
  setChunk (peer: string, bytes: number): number {
    let n = 0
    for (const conn of state.node?.getConnections() ?? []) {
      if (conn.remotePeer.toString() !== peer || !conn.direct) continue
      for (const s of conn.streams) {
        if (s.protocol === PROTOCOL && s.direction === 'outbound') {
          const x = s as any
          x.__chunk ??= x.maxMessageSize
          x.maxMessageSize = bytes > 0 ? bytes : x.__chunk
          n++
        }
      }
    }
    return n
  },

  /**
   * Experiment: make @libp2p/webrtc's stream to `peer` signal 'drain' when its
   * data channel's bufferedAmount falls to `bytes` instead of to 0.
   */
  setLowWater (peer: string, bytes: number): number {
    let n = 0
    for (const conn of state.node?.getConnections() ?? []) {
      if (conn.remotePeer.toString() !== peer || !conn.direct) continue
      for (const s of conn.streams) {
        const channel = (s as any).channel as RTCDataChannel | undefined
        if (s.protocol === PROTOCOL && s.direction === 'outbound' && channel != null) {
          channel.bufferedAmountLowThreshold = bytes
          n++
        }
      }
    }
    return n
  },
  /** Experiment: the raw sender's high-water mark and its channel's bufferedAmountLowThreshold. */
  rawWater (high: number, low: number): void {
    RAW_HIGH_WATER = high
    if (state.channel != null) state.channel.bufferedAmountLowThreshold = low
  },

  async stop (): Promise<void> {
    state.pcChannel?.close()
    state.channel?.close()
    state.pc?.close()
    await state.messenger?.stop()
    await state.node?.stop()
  }
}

declare global { interface Window { bench: typeof bench } }
window.bench = bench
