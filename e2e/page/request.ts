/**
 * The request/response e2e page: exposes `window.rr`, which
 * e2e/request.spec.ts drives with page.evaluate(). Every tab answers requests
 * (one handler, both wire modes) and can call the others in either mode.
 * Test-only setup lives here, never in the SDK.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { createBrowserNode, type BrowserNode } from '../../src/browser/index.js'
import { json } from '../../src/index.js'
import { bestConnection } from '../../src/core/connections.js'
import { MULTIPLEXED_SUFFIX } from '../../src/request/constants.js'
import { createRequestor, type Requestor, type RequestMode } from '../../src/request/requestor.js'
import type { PeerId, Stream } from '@libp2p/interface'

const PROTOCOL = '/e2e-rr/1.0.0'
/** Peers that answer with garbage, and with a well-formed frame the codec rejects. */
const GARBAGE = '/e2e-rr-garbage/1.0.0'
const WRONG = '/e2e-rr-wrong/1.0.0'
const MODES: RequestMode[] = ['multiplexed', 'stream']

/** Limits: the caller allows larger requests and smaller responses than the handler. */
const CLIENT_MAX_REQUEST = 64 * 1024
const SERVER_MAX_REQUEST = 32 * 1024
const CLIENT_MAX_RESPONSE = 64 * 1024
const SERVER_MAX_RESPONSE = 128 * 1024

export type Req =
  | { op: 'add', a: number, b: number }
  | { op: 'echo', text: string }
  | { op: 'hang' }
  | { op: 'fail', message: string, code?: string }
  | { op: 'size', n: number }
  | { op: 'pad', pad: string }
  | { op: 'delay', ms: number, i: number }
export type Res = { sum: number } | { text: string, from: string } | { data: string } | { i: number } | { ok: true }

/** A request's outcome as plain data. */
export type Outcome = { ok: Res } | { error: { name: string, message: string, code?: string } }

interface StartOptions {
  relays: string[]
  room: string
  webrtc?: boolean
}

// Loopback-only hosts: Chrome gathers ICE candidates there only after a media
// permission was granted (with --use-fake-ui-for-media-stream). Test page only.
const media = navigator.mediaDevices?.getUserMedia({ audio: true }).then((s) => { for (const t of s.getTracks()) t.stop() }).catch(() => {})

const state: {
  node?: BrowserNode
  server?: Requestor<Req, Res>
  clients: Partial<Record<RequestMode, Requestor<Req, Res>>>
  bad: Record<string, Requestor<string, string>>
  /** handler side: `hang` requests waiting now, and why waiting ones ended */
  hanging: number
  aborts: Record<string, number>
  running: number
  maxRunning: number
  /** caller side: batches started with startHanging() */
  batches: Map<string, { controllers: AbortController[], settled: Promise<Record<string, number>> }>
  errors: string[]
} = { clients: {}, bad: {}, hanging: 0, aborts: {}, running: 0, maxRunning: 0, batches: new Map(), errors: [] }

function outcomeOf (err: any): Outcome {
  return { error: { name: err?.name ?? 'Error', message: String(err?.message ?? err), code: typeof err?.code === 'string' ? err.code : undefined } }
}

function tally (results: Array<PromiseSettledResult<unknown>>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of results) {
    const key = r.status === 'fulfilled' ? 'ok' : ((r.reason as any)?.name ?? String(r.reason))
    out[key] = (out[key] ?? 0) + 1
  }
  return out
}

function client (mode: RequestMode): Requestor<Req, Res> {
  const c = state.clients[mode]
  if (c == null) throw new Error('not started')
  return c
}

async function handler (req: Req, { from, signal }: { from: PeerId, signal: AbortSignal }): Promise<Res> {
  switch (req.op) {
    case 'add': return { sum: req.a + req.b }
    case 'echo': return { text: req.text.toUpperCase(), from: from.toString() }
    case 'fail': throw Object.assign(new Error(req.message), req.code != null ? { code: req.code } : {})
    case 'size': return { data: 'x'.repeat(req.n) }
    case 'pad': return { ok: true }
    case 'delay': {
      state.running++
      state.maxRunning = Math.max(state.maxRunning, state.running)
      try {
        await new Promise(resolve => setTimeout(resolve, req.ms))
      } finally {
        state.running--
      }
      return { i: req.i }
    }
    case 'hang': {
      state.hanging++
      return new Promise<Res>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          state.hanging--
          const name = (signal.reason as Error | undefined)?.name ?? 'unknown'
          state.aborts[name] = (state.aborts[name] ?? 0) + 1
          reject(signal.reason)
        }, { once: true })
      })
    }
  }
}

/** A peer speaking the protocol badly: reads a request frame, answers `reply(id)`. */
async function serveBadly (protocol: string, reply: (id: number) => Uint8Array): Promise<void> {
  const node = state.node as BrowserNode
  const serve = (stream: Stream): void => {
    stream.addEventListener('message', (evt) => {
      const data = evt.data.subarray()
      // <varint n> <kind> <varint id>: small frames and ids in these tests
      stream.send(reply(data[2]))
    }, { once: true })
  }
  await node.handle([protocol, protocol + MULTIPLEXED_SUFFIX], serve, { runOnLimitedConnection: true })
}

const rr = {
  async start (opts: StartOptions): Promise<string> {
    await media
    const node = await createBrowserNode({ relays: opts.relays, room: opts.room, allowInsecureRelays: true, webrtc: opts.webrtc })
    state.node = node
    const codec = { requestCodec: json<Req>(), responseCodec: json<Res>() }
    state.server = createRequestor<Req, Res>(node, { protocol: PROTOCOL, ...codec, handler, maxRequestSize: SERVER_MAX_REQUEST, maxResponseSize: SERVER_MAX_RESPONSE })
    state.server.addEventListener('error', (e) => { state.errors.push(`${e.detail.error.name}: ${e.detail.error.message}`) })
    for (const mode of MODES) {
      state.clients[mode] = createRequestor<Req, Res>(node, { protocol: PROTOCOL, ...codec, mode, maxRequestSize: CLIENT_MAX_REQUEST, maxResponseSize: CLIENT_MAX_RESPONSE })
      for (const bad of [GARBAGE, WRONG]) {
        state.bad[`${bad} ${mode}`] = createRequestor<string, string>(node, { protocol: bad, requestCodec: json<string>(), responseCodec: json<string>(), mode })
      }
    }
    await state.server.ready
    // random-looking bytes; and a RESPONSE frame for the right id whose payload is not JSON
    await serveBadly(GARBAGE, () => Uint8Array.from({ length: 64 }, (_, i) => (i * 73 + 200) & 0xff))
    await serveBadly(WRONG, (id) => new Uint8Array([5, 2, id, 0x7b, 0x7b, 0x7b]))
    document.getElementById('status')!.textContent = 'started'
    return node.peerId.toString()
  },

  /** How we reach `peer` now: 'direct', 'relayed', or undefined. */
  connection (peer: string): string | undefined {
    const conn = bestConnection(state.node?.getConnections(peerIdFromString(peer)) ?? [])
    if (conn == null) return undefined
    return conn.direct ? 'direct' : 'relayed'
  },

  async request (peer: string, mode: RequestMode, req: Req, timeout?: number): Promise<Outcome> {
    try {
      return { ok: await client(mode).request(peerIdFromString(peer), req, { timeout }) }
    } catch (err) {
      return outcomeOf(err)
    }
  },

  /** Typed round trips: answers in order, and the handler saw us as the caller. */
  async roundTrip (peer: string, mode: RequestMode, n: number): Promise<{ sums: number[], echo: Res }> {
    const p = peerIdFromString(peer)
    const sums: number[] = []
    for (let i = 0; i < n; i++) sums.push(((await client(mode).request(p, { op: 'add', a: i, b: 1000 })) as { sum: number }).sum)
    const echo = await client(mode).request(p, { op: 'echo', text: 'héllo, wörld' })
    return { sums, echo }
  },

  /** `n` concurrent requests; each must get its own answer. */
  async concurrent (peer: string, mode: RequestMode, n: number): Promise<{ tally: Record<string, number>, wrong: number, pending: number }> {
    const p = peerIdFromString(peer)
    const results = await Promise.allSettled(Array.from({ length: n }, async (_, i) => client(mode).request(p, { op: 'delay', ms: i % 3, i }, { timeout: 60_000 })))
    const wrong = results.filter((r, i) => r.status === 'fulfilled' && (r.value as { i: number }).i !== i).length
    return { tally: tally(results), wrong, pending: client(mode).pending() }
  },

  /** Start `n` requests the handler never answers, each with its own AbortController. */
  startHanging (peer: string, mode: RequestMode, n: number, tag: string, timeout = 30_000): void {
    const p = peerIdFromString(peer)
    const controllers = Array.from({ length: n }, () => new AbortController())
    const settled = Promise.allSettled(controllers.map(async (c) => client(mode).request(p, { op: 'hang' }, { signal: c.signal, timeout }))).then(tally)
    state.batches.set(tag, { controllers, settled })
  },

  abortHanging (tag: string): void {
    for (const c of state.batches.get(tag)?.controllers ?? []) c.abort()
  },

  async settled (tag: string): Promise<Record<string, number>> {
    const batch = state.batches.get(tag)
    if (batch == null) throw new Error(`no batch ${tag}`)
    return batch.settled
  },

  /** Abort every connection to `peer` (the cable is pulled). */
  dropConnections (peer: string): number {
    const conns = state.node?.getConnections(peerIdFromString(peer)) ?? []
    for (const conn of conns) conn.abort(new Error('connection dropped by the test'))
    return conns.length
  },

  /** A request to a peer answering `kind` ('garbage' or 'wrong') badly. */
  async badRequest (peer: string, mode: RequestMode, kind: 'garbage' | 'wrong'): Promise<Outcome> {
    try {
      return { ok: (await state.bad[`${kind === 'garbage' ? GARBAGE : WRONG} ${mode}`].request(peerIdFromString(peer), 'hi', { timeout: 20_000 })) as any }
    } catch (err) {
      return outcomeOf(err)
    }
  },

  /** Handler side. */
  handled () {
    return { hanging: state.hanging, aborts: { ...state.aborts }, maxRunning: state.maxRunning, handling: state.server?.handling() ?? 0, errors: state.errors }
  },
  resetHandled (): void {
    state.aborts = {}
    state.maxRunning = 0
  },

  /** Caller side: requests in flight or waiting, per mode. */
  pending (): Record<string, number> {
    return Object.fromEntries(MODES.map(m => [m, client(m).pending()]))
  },

  limits: () => ({ CLIENT_MAX_REQUEST, SERVER_MAX_REQUEST, CLIENT_MAX_RESPONSE, SERVER_MAX_RESPONSE }),

  async stop (): Promise<void> {
    await Promise.all([state.server, ...Object.values(state.clients), ...Object.values(state.bad)].map(async r => r?.stop()))
    await state.node?.stop()
  }
}

declare global { interface Window { rr: typeof rr } }
window.rr = rr
