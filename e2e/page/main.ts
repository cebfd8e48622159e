/**
 * The end-to-end test page: exposes `window.harness`, which Playwright drives
 * with page.evaluate(). Test-only setup lives here, never in the SDK.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { connectionPaths } from './rtc-path.js'
import { connectionPath, createBrowserNode, loadIdentity, type BrowserNode, type Identity } from '../../src/browser/index.js'
import { createMessenger, string, openOutbox, indexedDBOutboxStore, localStorageReceipts, type Messenger, type DropDetail, type Outbox } from '../../src/index.js'
import { createTransfers, indexedDBTransferStore, memoryTransferStore, type Transfers, type TransferProgress } from '../../src/transfer/index.js'

interface StartOptions {
  relays: string[]
  room?: string
  /** STUN/TURN servers for the browser node (the network lab, e2e/network) */
  iceServers?: RTCIceServer[]
  /** the node's connection monitor (diagnostics in the network lab) */
  pingInterval?: number
  pingTimeout?: number
  protocol?: string
  webrtc?: boolean
  delivery?: 'default' | 'confirmed'
  /** identity in IndexedDB (one per tab, kept across reloads), outbox in IndexedDB, receipts in localStorage */
  persist?: boolean
  queueTtl?: number
  /**
   * Count received messages per sender and prefix instead of keeping them
   * (long runs: the page's memory stays flat). Messages must be `${prefix}${i}`,
   * i = 0, 1, … per sender; see `tally()`.
   */
  tally?: boolean
  /** file transfers on the messenger (`libp2p-messenger/transfer`), incoming chunks in memory or IndexedDB; offers are accepted */
  transfers?: 'memory' | 'idb'
  /** chunks in flight per transfer (TransfersInit.window) */
  transferWindow?: number
  /** bytes per chunk (TransfersInit.chunkSize) */
  chunkSize?: number
}

/** What a transfer did, seen from one side (`sendFile()`, `incoming()`). */
interface TransferRecord {
  id: string
  size: number
  /** SHA-256 of each 1 MiB of the payload, hex, joined: equal lists, identical bytes */
  digest?: string
  ms: number
  progressEvents: number
  /** progress events whose bytes did not grow */
  notRising: number
  lastBytes: number
  stats: { chunks: number, repeated: number, resumes: number }
  error?: string
  /** receiver: the offer was restored after a reload of this tab, with this many bytes already stored */
  resumedFrom?: number
  /** receiver: ms from the last chunk stored to the verified Blob (the read-back check) */
  verifyMs?: number
  lastProgressAt?: number
}

/** Pseudo-random bytes (xorshift) in 1 MiB parts, as a Blob: no whole copy held in JS. */
function makeBlob (bytes: number, seed: number): Blob {
  const parts: Uint8Array[] = []
  let x = seed >>> 0 || 1
  for (let off = 0; off < bytes; off += 1 << 20) {
    const part = new Uint8Array(Math.min(1 << 20, bytes - off))
    const words = new Uint32Array(part.buffer, 0, part.byteLength >>> 2)
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13; x >>>= 0
      x ^= x >>> 17
      x ^= x << 5; x >>>= 0
      words[i] = x
    }
    parts.push(part)
  }
  return new Blob(parts as Uint8Array<ArrayBuffer>[])
}

/** SHA-256 of each 1 MiB slice of `blob`, read one at a time. */
async function digestBlob (blob: Blob): Promise<string> {
  const out: string[] = []
  for (let off = 0; off < blob.size; off += 1 << 20) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.slice(off, off + (1 << 20)).arrayBuffer()))
    out.push([...d].map(b => b.toString(16).padStart(2, '0')).join(''))
  }
  return out.join(',')
}

function watchProgress (target: { addEventListener: (type: 'progress', fn: (e: CustomEvent<TransferProgress>) => void) => void }, rec: TransferRecord): void {
  target.addEventListener('progress', (e) => {
    rec.progressEvents++
    if (e.detail.bytes <= rec.lastBytes) rec.notRising++
    rec.lastBytes = e.detail.bytes
    if (e.detail.bytes === e.detail.total || e.detail.total == null) rec.lastProgressAt ??= performance.now()
  })
}

/** Received messages of one sender and prefix, counted rather than kept (`start({ tally: true })`). */
interface Tally {
  from: string
  prefix: string
  /** messages taken */
  count: number
  /** the next index expected: equals `count` when every message came once, in order */
  next: number
  /** messages that were not the expected next one (duplicates, gaps, reordering) */
  bad: number
  /** the first few of those, as `got <data>, expected <index>` */
  samples: string[]
}

/** When the messages of one tally arrived (`tallyTiming()`), Date.now() values. */
interface TallyTiming {
  from: string
  prefix: string
  firstAt: number
  lastAt: number
  /** the longest wait between two consecutive messages, ms, how many had arrived before it, and when it ended */
  maxGapMs: number
  maxGapAfter: number
  maxGapEnd: number
}

/** RTCPeerConnection / RTCDataChannel counters installed by `instrumentRTC()` (e2e/fixtures.ts) before the page loads. */
interface RtcCounters {
  /** RTCPeerConnections constructed */
  created: number
  /** constructed and not closed */
  live: number
  maxLive: number
  /** RTCDataChannels seen (created here or announced by the remote side) */
  dcCreated: number
  /** data channels that fired `open` and have not closed (nor their connection) */
  dcOpen: number
  maxDcOpen: number
  snapshot: () => { live: number, dcOpen: number, states: Record<string, number> }
}

declare global {
  // installed by instrumentRTC() (e2e/fixtures.ts) with an init script

  var __rtc: RtcCounters | undefined
}

/** `at`: when it arrived, ms since the epoch with sub-ms resolution (comparable across tabs of one browser) */
interface Got { from: string, data: string, at?: number }

/** The file prepareFile() made for the next sendFile(). */
let prepared: { mb: number, seed: number, blob: Blob, digest: string } | undefined

/** sendPaced() loops look at this after each batch. */
const pacing = { stopped: false }

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
  readyAt?: number
  tally: Map<string, Tally>
  tallyTiming: Map<string, TallyTiming>
  reservations: Array<{ address: string, reserved: boolean, at: number }>
  connectionEvents: Array<{ peer: string, connection: string | undefined, at: number }>
  transfers?: Transfers
  incoming: TransferRecord[]
} = { received: [], joins: [], leaves: [], drops: [], errors: [], tally: new Map(), tallyTiming: new Map(), reservations: [], connectionEvents: [], incoming: [] }

function tallyMessage (from: string, data: string): void {
  const m = /^(.*?)(\d+)$/.exec(data)
  const prefix = m?.[1] ?? data
  const index = m != null ? Number(m[2]) : NaN
  const key = `${from}\n${prefix}`
  let t = state.tally.get(key)
  if (t == null) {
    t = { from, prefix, count: 0, next: 0, bad: 0, samples: [] }
    state.tally.set(key, t)
    state.tallyTiming.set(key, { from, prefix, firstAt: Date.now(), lastAt: Date.now(), maxGapMs: 0, maxGapAfter: 0, maxGapEnd: 0 })
  }
  const timing = state.tallyTiming.get(key)
  if (timing != null) {
    const now = Date.now()
    if (now - timing.lastAt > timing.maxGapMs) {
      timing.maxGapMs = now - timing.lastAt
      timing.maxGapAfter = t.count
      timing.maxGapEnd = now
    }
    timing.lastAt = now
  }
  t.count++
  if (index === t.next) {
    t.next++
  } else {
    t.bad++
    if (t.samples.length < 5) t.samples.push(`got ${data}, expected ${t.next}`)
  }
}

// Loopback-only hosts: Chrome gathers ICE candidates there only after a media
// permission was granted (with --use-fake-ui-for-media-stream). Test page only.
const media = navigator.mediaDevices?.getUserMedia({ audio: true }).then((s) => { for (const t of s.getTracks()) t.stop() }).catch(() => {})

const harness = {
  async start (opts: StartOptions): Promise<string> {
    await media
    const identity = opts.persist === true ? await loadIdentity() : undefined
    const node = await createBrowserNode({ relays: opts.relays, room: opts.room, iceServers: opts.iceServers, pingInterval: opts.pingInterval, pingTimeout: opts.pingTimeout, allowInsecureRelays: true, webrtc: opts.webrtc, privateKey: identity?.privateKey })
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
    messenger.addEventListener('connection', (e) => { state.connectionEvents.push({ peer: e.detail.peer.toString(), connection: e.detail.connection, at: Date.now() }) })
    node.services.relays.addEventListener('reservation:change', (e) => { state.reservations.push({ ...e.detail, at: Date.now() }) })
    if (opts.transfers != null) {
      const transfers = createTransfers(messenger, {
        window: opts.transferWindow,
        chunkSize: opts.chunkSize,
        store: opts.transfers === 'idb' ? indexedDBTransferStore({ name: `libp2p-messenger/transfers/${node.peerId.toString()}` }) : memoryTransferStore()
      })
      state.transfers = transfers
      transfers.addEventListener('offer', (e) => {
        const t0 = performance.now()
        const incoming = e.detail.accept()
        const rec: TransferRecord = { id: incoming.id, size: e.detail.size ?? -1, ms: 0, progressEvents: 0, notRising: 0, lastBytes: e.detail.bytes, stats: incoming.stats, resumedFrom: e.detail.resumed ? e.detail.bytes : undefined }
        state.incoming.push(rec)
        watchProgress(incoming, rec)
        incoming.done.then(async (blob) => {
          rec.ms = performance.now() - t0
          if (rec.lastProgressAt != null) rec.verifyMs = performance.now() - rec.lastProgressAt
          rec.size = blob.size
          rec.digest = await digestBlob(blob)
        }, (err: Error) => { rec.error = `${err.name}: ${err.message}` })
      })
    }
    const tally = opts.tally === true
    // persisted tabs journal what the application took, in the same task as the SDK's receipt,
    // so the record survives reloads and crashes exactly as the receipts do
    const journal = opts.persist === true ? `e2e/journal/${node.peerId.toString()}` : undefined
    void (async () => {
      for await (const { from, data } of messenger) {
        state.firstMessageAt ??= Date.now()
        if (tally) tallyMessage(from.toString(), data)
        else state.received.push({ from: from.toString(), data, at: performance.timeOrigin + performance.now() })
        if (journal != null) localStorage.setItem(journal, (localStorage.getItem(journal) ?? '') + data + '\n')
      }
    })()
    await messenger.ready
    state.readyAt = Date.now()
    document.getElementById('status')!.textContent = 'started'
    return node.peerId.toString()
  },
  /**
   * Send `mb` MiB of pseudo-random bytes (a Blob) to `peer` as a file transfer
   * (`start({ transfers })`); resolves when the receiver has verified it.
   */
  async sendFile (peer: string, mb: number, seed = 1, id?: string): Promise<TransferRecord> {
    const transfers = state.transfers
    if (transfers == null) throw new Error('not started with transfers')
    const { blob, digest } = prepared?.mb === mb && prepared.seed === seed ? prepared : await harness.prepareFile(mb, seed)
    prepared = undefined
    const t0 = performance.now()
    // an application resuming after its own reload passes the id it kept (here: localStorage)
    const out = transfers.send(peer, blob, { name: `file-${mb}MiB.bin`, type: 'application/octet-stream', id })
    localStorage.setItem(`e2e/transfer/${state.node?.peerId.toString() ?? ''}`, out.id)
    const rec: TransferRecord = { id: out.id, size: blob.size, digest, ms: 0, progressEvents: 0, notRising: 0, lastBytes: 0, stats: out.stats }
    watchProgress(out, rec)
    try {
      await out.done
    } catch (err: any) {
      rec.error = `${err.name}: ${err.message}`
    }
    rec.ms = performance.now() - t0
    return rec
  },
  /** Make the Blob `sendFile(peer, mb, seed)` will send, and its digest, ahead (so measuring the transfer leaves that out). */
  async prepareFile (mb: number, seed = 1): Promise<{ mb: number, seed: number, blob: Blob, digest: string }> {
    const blob = makeBlob(mb * (1 << 20), seed)
    prepared = { mb, seed, blob, digest: await digestBlob(blob) }
    return prepared
  },
  /** Send `${prefix}${i}` to `peer`, one every `every` ms; resolves with when each was sent (see arrivals()). */
  async sendTimed (peer: string, prefix: string, count: number, every: number): Promise<number[]> {
    const m = state.messenger
    if (m == null) throw new Error('not started')
    const at: number[] = []
    for (let i = 0; i < count; i++) {
      at.push(performance.timeOrigin + performance.now())
      m.send(peer, `${prefix}${i}`)
      await new Promise(resolve => setTimeout(resolve, every))
    }
    return at
  },
  /** When the messages `${prefix}${i}` arrived, in order of i (undefined: not yet). */
  arrivals: (prefix: string, count: number): Array<number | undefined> =>
    Array.from({ length: count }, (_, i) => state.received.find(r => r.data === `${prefix}${i}`)?.at),
  /** The id of the last transfer sendFile() started from this identity (kept across reloads). */
  lastSentId: (): string | undefined => localStorage.getItem(`e2e/transfer/${state.node?.peerId.toString() ?? ''}`) ?? undefined,
  /** Incoming transfers so far (`start({ transfers })`). */
  incoming: (): TransferRecord[] => state.incoming.map(r => ({ ...r, stats: { ...r.stats } })),
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
    // by its string form, as an application that learned it from a URL would
    for (let i = start; i < start + count; i++) m.send(peer, `${prefix}${i}`)
    return count
  },
  /** Send `count` messages, `batch` every `every` ms; resolves when all are queued. */
  async sendPaced (peer: string, prefix: string, count: number, batch: number, every: number): Promise<void> {
    pacing.stopped = false
    for (let i = 0; i < count && !pacing.stopped; i += batch) {
      harness.send(peer, prefix, Math.min(batch, count - i), i)
      await new Promise(resolve => setTimeout(resolve, every))
    }
  },
  /** Ends every sendPaced() loop of this page after its current batch. */
  stopPaced (): void {
    pacing.stopped = true
  },
  /**
   * Like sendPaced, for an application that remembers what it sent: the next
   * index lives in localStorage and is written, synchronously, right after each
   * `send()` returned, so a reload in the middle resumes exactly where the
   * application left off. Returns the next index (the number sent so far).
   */
  async sendCounted (peer: string, prefix: string, total: number, batch: number, every: number): Promise<number> {
    const m = state.messenger
    if (m == null) throw new Error('not started')
    const key = `e2e/sent/${state.node?.peerId.toString() ?? ''}/${prefix}`
    const p = peerIdFromString(peer)
    let next = Number(localStorage.getItem(key) ?? 0)
    while (next < total) {
      for (let k = 0; k < batch && next < total; k++) {
        m.send(p, `${prefix}${next}`)
        localStorage.setItem(key, String(++next))
      }
      await new Promise(resolve => setTimeout(resolve, every))
    }
    return next
  },
  /** The index sendCounted() will send next (what the application knows it sent). */
  sentCount: (prefix: string): number => Number(localStorage.getItem(`e2e/sent/${state.node?.peerId.toString() ?? ''}/${prefix}`) ?? 0),
  /**
   * Broadcast `${prefix}${i}`, i = 0 … count-1, one every `every` ms on a fixed
   * schedule (no drift); resolves when all are queued, with the fewest and most
   * peers one broadcast reached.
   */
  async broadcastPaced (prefix: string, count: number, every: number): Promise<{ sent: number, minPeers: number, maxPeers: number }> {
    const m = state.messenger
    if (m == null) throw new Error('not started')
    const t0 = performance.now()
    let minPeers = Infinity
    let maxPeers = 0
    for (let i = 0; i < count; i++) {
      const wait = t0 + i * every - performance.now()
      if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
      const n = m.broadcast(`${prefix}${i}`).length
      minPeers = Math.min(minPeers, n)
      maxPeers = Math.max(maxPeers, n)
    }
    return { sent: count, minPeers, maxPeers }
  },
  /** When the messenger was ready, and when the first message arrived after it (ms, page clock). */
  timing: () => ({ readyAt: state.readyAt, firstMessageAt: state.firstMessageAt }),
  /** Per sender and prefix: what arrived (`start({ tally: true })`). */
  tally: (): Tally[] => [...state.tally.values()],
  /**
   * The WebSocket connections (to relays): bytes the browser still holds for each
   * (`bufferedAmount`), and a ping's round trip now (the network lab's diagnostics).
   */
  async relayLinks (timeout = 20_000): Promise<Array<{ peer: string, bufferedAmount?: number, rttMs?: number, error?: string }>> {
    const node = state.node
    if (node == null) return []
    const links = node.getConnections().filter(c => (c as any).maConn?.websocket != null)
    return await Promise.all(links.map(async (c) => {
      const bufferedAmount: number | undefined = (c as any).maConn.websocket.bufferedAmount
      const started = performance.now()
      try {
        await (node.services.ping as any).ping(c.remotePeer, { signal: AbortSignal.timeout(timeout) })
        return { peer: c.remotePeer.toString(), bufferedAmount, rttMs: Math.round(performance.now() - started) }
      } catch (err: any) {
        return { peer: c.remotePeer.toString(), bufferedAmount, error: `${err.name} after ${Math.round(performance.now() - started)} ms` }
      }
    }))
  },
  /** Per sender and prefix: when it arrived (`start({ tally: true })`). */
  tallyTiming: (): TallyTiming[] => [...state.tallyTiming.values()],
  /** Each connection to `peer` (or to every browser peer): relayed, or direct with its ICE path (host / srflx / TURN); see rtc-path.ts. */
  paths: async (peer?: string) => state.node == null ? [] : await connectionPaths(state.node, peer),
  /** RTCPeerConnection / RTCDataChannel counts (needs instrumentRTC() from e2e/fixtures.ts). */
  rtc () {
    const r = globalThis.__rtc
    if (r == null) return undefined
    const { live, dcOpen, states } = r.snapshot()
    return { created: r.created, live, maxLive: r.maxLive, dcCreated: r.dcCreated, dcOpen, maxDcOpen: r.maxDcOpen, states }
  },
  /** Used JS heap in bytes, after a full GC when gc() is exposed (--js-flags=--expose-gc; precise with --enable-precise-memory-info). */
  heap (): number | undefined {
    globalThis.gc?.()
    return (performance as any).memory?.usedJSHeapSize
  },
  /** What the peer store knows of a peer: its protocols and addresses (diagnostics). */
  async peerInfo (peer: string): Promise<{ protocols: string[], addresses: string[] } | undefined> {
    try {
      const p = await state.node?.peerStore.get(peerIdFromString(peer))
      return p == null ? undefined : { protocols: p.protocols, addresses: p.addresses.map(a => a.multiaddr.toString()) }
    } catch {
      return undefined
    }
  },
  /** Every configured relay and whether a reservation is held on it now. */
  relayStatus: () => state.node?.services.relays.status() ?? [],
  /** Reservations gained and lost, in order. */
  reservations: () => state.reservations,
  connectionEvents: () => state.connectionEvents,
  /** The SDK's answer to "which network path is this peer on". */
  async path (peer: string): Promise<unknown> {
    return state.node != null ? await connectionPath(state.node, peerIdFromString(peer)) : undefined
  },
  /**
   * Create a node of its own (not this tab's) with these relays and report
   * how it failed, or that it came online, and how long either took.
   */
  async tryNode (relays: string[], allowInsecureRelays: boolean, timeout = 2_000): Promise<{ ok: boolean, ms: number, name?: string, message?: string, relays?: unknown }> {
    const started = performance.now()
    let node: BrowserNode | undefined
    try {
      node = await createBrowserNode({ relays, allowInsecureRelays })
      await node.services.relays.waitOnline({ timeout })
      return { ok: true, ms: performance.now() - started }
    } catch (err: any) {
      return { ok: false, ms: performance.now() - started, name: err.name, message: err.message, relays: err.relays }
    } finally {
      await node?.stop()
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
  /** Persisted tabs: every message this identity's application took, across reloads and crashes. */
  journal: (): string[] => (localStorage.getItem(`e2e/journal/${state.node?.peerId.toString() ?? ''}`) ?? '').split('\n').slice(0, -1),
  /** Outbound lanes, for diagnostics when a test times out. */
  outLanes: () => [...((state.messenger as any)?.outbound?.values() ?? [])].map((l: any) => ({ peer: l.peer.toString(), queued: l.queue.length, written: l.written, stream: l.stream == null ? undefined : `${l.stream.status} w=${l.stream.writeStatus} buf=${l.stream.writeBufferLength}`, running: l.running, retrying: l.retryTimer != null, failures: l.backoff?.failures })),
  connections: () => state.node?.getConnections().map(c => ({ peer: c.remotePeer.toString(), direct: c.direct, limited: c.limits != null, addr: c.remoteAddr.toString(), streams: c.streams.map(s => `${s.protocol} ${s.direction} ${s.status} r=${s.readStatus} w=${s.writeStatus} rw=${s.remoteWriteStatus} rb=${s.readBufferLength}`) })) ?? [],
  async stop (): Promise<void> {
    await state.transfers?.stop()
    await state.messenger?.stop()
    await state.outbox?.close()
    await state.node?.stop()
    state.identity?.release()
  }
}

declare global { interface Window { harness: typeof harness } }
window.harness = harness
