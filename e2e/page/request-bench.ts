/**
 * The request/response benchmark page: exposes `window.rbench`, which
 * bench/request.ts drives with page.evaluate(). Three ways to do the same
 * request/response between two tabs, on the same direct WebRTC connection:
 *
 * - `multiplexed`: the SDK's default mode (one stream per peer, request ids);
 * - `stream`: the SDK's stream mode (a new stream per request);
 * - `bare`: plain libp2p, as protocols usually write it: `newStream`,
 *   `lpStream(stream).write(request)`, `read()` the response, `close()`;
 *   the handler reads one frame, writes one back and closes.
 *
 * Every kind echoes `size` bytes. A run is `count` requests from
 * `concurrency` loops, each starting its next request when the last one
 * answered; each request's latency is measured from just before the call to
 * just after the response. Test-only setup lives here, never in the SDK.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { createBrowserNode, type BrowserNode } from '../../src/browser/index.js'
import { bytes } from '../../src/index.js'
import { bestConnection } from '../../src/core/connections.js'
import { createRequestor, type Requestor, type RequestMode } from '../../src/request/requestor.js'
import type { Connection, PeerId } from '@libp2p/interface'

const PROTOCOL = '/rbench/1.0.0'
const BARE = '/rbench/bare/1.0.0'
/** Bare streams at once per connection (libp2p's defaults are 32 inbound, 64 outbound). */
const BARE_MAX_STREAMS = 1024

export type Kind = RequestMode | 'bare'

export interface RunResult {
  kind: Kind
  ms: number
  count: number
  /** per request, in ms */
  latencies: number[]
  errors: number
  firstError?: string
}

interface StartOptions {
  relays: string[]
  room: string
}

// Loopback-only hosts: Chrome gathers ICE candidates there only after a media
// permission was granted (with --use-fake-ui-for-media-stream). Test page only.
const media = navigator.mediaDevices?.getUserMedia({ audio: true }).then((s) => { for (const t of s.getTracks()) t.stop() }).catch(() => {})

const state: {
  node?: BrowserNode
  server?: Requestor<Uint8Array, Uint8Array>
  clients: Partial<Record<RequestMode, Requestor<Uint8Array, Uint8Array>>>
  /** what the handler side reported */
  errors: string[]
} = { clients: {}, errors: [] }

function directConnection (peer: PeerId): Connection {
  const conn = bestConnection(state.node?.getConnections(peer) ?? [])
  if (conn == null || !conn.direct) throw new Error(`no direct connection to ${peer.toString()}`)
  return conn
}

async function bareRequest (peer: PeerId, payload: Uint8Array): Promise<Uint8Array> {
  const stream = await directConnection(peer).newStream(BARE, { maxOutboundStreams: BARE_MAX_STREAMS, signal: AbortSignal.timeout(30_000) })
  const lp = lpStream(stream)
  await lp.write(payload)
  const res = await lp.read()
  await stream.close()
  return res.subarray()
}

const rbench = {
  async start (opts: StartOptions): Promise<string> {
    await media
    const node = await createBrowserNode({ relays: opts.relays, room: opts.room, allowInsecureRelays: true })
    state.node = node
    const codecs = { requestCodec: bytes(), responseCodec: bytes() }
    // echo; the same handler answers both SDK modes
    state.server = createRequestor(node, { protocol: PROTOCOL, ...codecs, handler: (req: Uint8Array) => req })
    state.server.addEventListener('error', (e) => { state.errors.push(`${e.detail.error.name}: ${e.detail.error.message}`) })
    for (const mode of ['multiplexed', 'stream'] as const) {
      state.clients[mode] = createRequestor(node, { protocol: PROTOCOL, ...codecs, mode })
    }
    await node.handle(BARE, async (stream) => {
      const lp = lpStream(stream)
      const req = await lp.read()
      await lp.write(req)
      await stream.close()
    }, { maxInboundStreams: BARE_MAX_STREAMS, maxOutboundStreams: BARE_MAX_STREAMS })
    await state.server.ready
    document.getElementById('status')!.textContent = 'started'
    return node.peerId.toString()
  },

  /** 'direct' when our best connection to `peer` is a direct one. */
  connection (peer: string): string | undefined {
    const conn = bestConnection(state.node?.getConnections(peerIdFromString(peer)) ?? [])
    return conn == null ? undefined : conn.direct ? 'direct' : 'relayed'
  },

  /** Where the multiplexed client's streams to `peer` run (all must be on the direct connection). */
  muxRoute (peer: string): string[] {
    const p = peerIdFromString(peer)
    const streams = (state.clients.multiplexed as any).streams(p) as Array<{ id: string }>
    const conns = state.node?.getConnections(p) ?? []
    return streams.map(s => {
      const conn = conns.find(c => c.streams.some(x => x.id === s.id))
      return conn == null ? 'none' : conn.direct ? 'direct' : 'relayed'
    })
  },

  async run (kind: Kind, peer: string, count: number, concurrency: number, size: number): Promise<RunResult> {
    const p = peerIdFromString(peer)
    const payload = new Uint8Array(size).fill(7)
    const call = kind === 'bare'
      ? async () => bareRequest(p, payload)
      : async () => (state.clients[kind] as Requestor<Uint8Array, Uint8Array>).request(p, payload, { timeout: 30_000 })
    const latencies: number[] = []
    let next = 0
    let errors = 0
    let firstError: string | undefined
    const t0 = performance.now()
    const loop = async (): Promise<void> => {
      while (next < count) {
        next++
        const start = performance.now()
        try {
          const res = await call()
          if (res.byteLength !== size) throw new Error(`response of ${res.byteLength} bytes`)
          latencies.push(performance.now() - start)
        } catch (err: any) {
          errors++
          firstError ??= `${err?.name}: ${err?.message}`
        }
      }
    }
    await Promise.all(Array.from({ length: concurrency }, loop))
    return { kind, ms: performance.now() - t0, count, latencies, errors, firstError }
  },

  /** Handler-side errors, and streams per protocol and direction on connections to `peer` now. */
  diag (peer: string): { errors: string[], streams: Record<string, number> } {
    const streams: Record<string, number> = {}
    for (const conn of state.node?.getConnections(peerIdFromString(peer)) ?? []) {
      for (const s of conn.streams) {
        const key = `${s.protocol} ${s.direction} ${s.status}`
        streams[key] = (streams[key] ?? 0) + 1
      }
    }
    return { errors: state.errors.slice(0, 10), streams }
  },

  async stop (): Promise<void> {
    await Promise.all([state.server, ...Object.values(state.clients)].map(async r => r?.stop()))
    await state.node?.stop()
  }
}

declare global { interface Window { rbench: typeof rbench } }
window.rbench = rbench
