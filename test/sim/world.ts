/**
 * One simulated scenario: peers running the real messenger (channels, lanes,
 * outbox, receipts) over the simulated network, applications that send
 * numbered messages and read at a chosen pace, the faults, and the invariants
 * — README "What can be lost", stated as code.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { createMessenger, json, bytes, openOutbox, type Messenger, type DropDetail, type Outbox, type ReceiptStore, type Receipt } from '../../src/index.js'
import { createRequestor, type Requestor } from '../../src/request/index.js'
import { type OutboxStore, type OutboxBatch, type OutboxRecord, type OutboxLane, type LedgerEntry } from '../../src/outbox/index.js'
import { installClock, type SimClock } from './clock.js'
import { isSuspect, livenessEvents } from '../../src/core/liveness.js'
import { SimNetwork, WINDOW, type SimNode, type SimConnection, type StreamRecord, type ConnectionKind } from './network.js'
import type { PeerId } from '@libp2p/interface'

export const PROTOCOL = '/sim/1.0.0'
/** The receiver field of a broadcast payload. */
const BROADCAST = 255

export interface SimConfig {
  seed: number
  peers: number
  delivery: 'default' | 'confirmed'
  outbox: boolean
  kind: ConnectionKind
  latency: number
  payload: number
  maxQueuedMessages: number
  queueTtl: number
  maxInboundMessages: number
  handoverTimeout: number
  idleTimeout: number
  requestMode: 'multiplexed' | 'stream'
}

/** A request of the simulator's applications and its reply. */
interface Ask { id: number, from: number }
interface Answer { id: number, by: number }

/** The error names `request()` may reject with (its TSDoc). */
const REQUEST_ERRORS = new Set(['RequestTimeoutError', 'RemoteError', 'TooManyRequestsError', 'RequestAbortedError', 'ProtocolError', 'MessageTooLargeError', 'FrameTooLargeError', 'StreamOpenError', 'QueueFullError', 'MessengerStoppedError', 'AbortError'])
/** How long past its timeout a request may take to settle. */
const REQUEST_GRACE = 1_000

interface RequestRecord {
  id: number
  from: number
  to: number
  inc: number
  at: number
  timeout: number
  settled?: 'ok' | string
  handled: number
}

/** A broken invariant: the scenario fails with this message. */
export class Violation extends Error {
  override name = 'Violation'
}

/** Thrown (and ignored) for events about the hostile peer. */
class Attacker extends Error {}

/** How long the connection monitor takes to notice a silent death (ping interval + timeout). */
export const PING_DETECT = 7_000
/** Bytes of one broken stream that can be lost in flight: the lane's write high-water mark, a batch, the window both ways. */
export const IN_FLIGHT_BOUND = 1024 * 1024 + 256 * 1024 + 2 * WINDOW

interface SentMessage {
  n: number
  seq: number
  /** incarnation of the sender that sent it */
  inc: number
  at: number
}

/** What one sender's application did and what one receiver's application got, per direction. */
interface Lane {
  from: number
  to: number
  sent: SentMessage[]
  /** n of every message the receiving application took, in order */
  delivered: number[]
  deliveredSet: Set<number>
  /** seq numbers named by drop events, with the incarnation that reported them (unconfirmed ones apart) */
  dropped: Set<number>
  droppedUnconfirmed: Set<number>
  refused: number
  refusedReported: number
  /** confirmed mode: messages reported delivered */
  confirmedDelivered: Set<SentMessage>
  next: number
}

/** Storage that outlives an incarnation (IndexedDB / localStorage of the page). */
class Persistent {
  records = new Map<string, OutboxRecord>()
  lanes = new Map<string, OutboxLane>()
  receipts = new Map<string, Receipt>()
  /** localStorage: synchronous, kept across reloads and crashes */
  ledger = new Map<string, LedgerEntry>()
}

const recordKey = (r: { protocol: string, peer: string, seq: number }): string => `${r.protocol}\n${r.peer}\n${String(r.seq).padStart(12, '0')}`

/** An incarnation's handle on its persistent storage: atomic writes that take time; dead once the page is gone. */
function outboxStore (p: Persistent, inc: Incarnation, world: World): OutboxStore {
  return {
    async load () {
      const records = [...p.records.entries()].sort(([a], [b]) => a < b ? -1 : 1).map(([, r]) => r)
      return { records, lanes: [...p.lanes.values()] }
    },
    async write (batch: OutboxBatch) {
      if (!inc.alive) throw new Error('the page is gone')
      // a write takes a few ms; the page may die meanwhile, and then it commits or not
      await new Promise(resolve => setTimeout(resolve, 1 + Math.floor(world.random() * 8)))
      if (!inc.alive && world.random() < 0.5) throw new Error('the page went away during the write')
      for (const r of batch.remove) {
        for (let seq = r.first; seq <= r.last; seq++) p.records.delete(recordKey({ protocol: r.protocol, peer: r.peer, seq }))
      }
      for (const r of batch.put) p.records.set(recordKey(r), { ...r, payload: r.payload.slice() })
      for (const l of batch.lanes) p.lanes.set(`${l.protocol}\n${l.peer}`, { ...l })
    },
    close () {},
    ledger: {
      load: () => new Map([...p.ledger].map(([k, v]) => [k, structuredClone(v)])),
      save: (key, entry) => {
        if (!inc.alive) return
        if (entry == null) p.ledger.delete(key)
        else p.ledger.set(key, structuredClone(entry))
      }
    }
  }
}

function receiptStore (p: Persistent, inc: Incarnation): ReceiptStore {
  return {
    get: (key) => p.receipts.get(key),
    set: (key, receipt) => { if (inc.alive) p.receipts.set(key, { ...receipt }) }
  }
}

interface Incarnation {
  n: number
  alive: boolean
  outbox?: Outbox
  requestor: Requestor<Ask, Answer>
  node: SimNode
  messenger: Messenger<Uint8Array>
  reading: Promise<void>
}

class Slot {
  readonly index: number
  readonly peerId: PeerId
  readonly store = new Persistent()
  inc?: Incarnation
  incarnations = 0
  /** reading pace of the application: 0 = as fast as it can, n = one message every n ms, -1 = paused */
  pace = 0
  gate?: PromiseWithResolvers<void>
  /** the application's message number: one counter for sends and broadcasts, so each lane's numbers rise in send order */
  counter = 0

  constructor (index: number, peerId: PeerId) {
    this.index = index
    this.peerId = peerId
  }
}

export class World {
  readonly config: SimConfig
  readonly clock: SimClock
  readonly net: SimNetwork
  readonly slots: Slot[]
  readonly lanes = new Map<string, Lane>()
  readonly requests: RequestRecord[] = []
  /** outbound stream records that carried honest frames, per lane */
  private readonly random01: () => number
  log: string[] = []
  /** a connection the SDK had suspected is trusted again from now */
  private readonly onCleared = (evt: Event): void => { ((evt as CustomEvent).detail as SimConnection).trustedAt = this.clock.now() }
  /** a violation seen inside an event listener, thrown at the next check */
  private failure?: Error

  /** a peer that is not part of any lane: it sends garbage */
  attacker?: SimNode

  private constructor (config: SimConfig, ids: PeerId[]) {
    this.config = config
    this.clock = installClock(config.seed)
    this.random01 = Math.random
    this.net = new SimNetwork({ latency: config.latency, kind: config.kind, dialFailAfter: 1_000, pingDetect: PING_DETECT })
    this.net.startMonitor()
    livenessEvents.addEventListener('cleared', this.onCleared)
    this.slots = ids.slice(0, config.peers).map((id, i) => new Slot(i, id))
    for (const a of this.slots) {
      for (const b of this.slots) {
        if (a !== b) this.lanes.set(`${a.index}>${b.index}`, { from: a.index, to: b.index, sent: [], delivered: [], deliveredSet: new Set(), dropped: new Set(), droppedUnconfirmed: new Set(), refused: 0, refusedReported: 0, confirmedDelivered: new Set(), next: 0 })
      }
    }
  }

  static async create (config: SimConfig, ids: PeerId[], attacker?: PeerId): Promise<World> {
    const world = new World(config, ids)
    if (attacker != null) world.attacker = world.net.add(attacker)
    for (const slot of world.slots) await world.start(slot)
    return world
  }

  /** Await `promise` while simulated time passes (it may need timers to settle). */
  async settle<T> (promise: Promise<T>, limit = 60_000): Promise<T> {
    let done = false
    const tracked = promise.finally(() => { done = true })
    tracked.catch(() => {})
    // eslint-disable-next-line no-unmodified-loop-condition -- set when the promise settles
    for (let t = 0; !done && t < limit; t += 10) await this.clock.advance(10)
    if (!done) throw new Violation(`an operation did not settle within ${limit} ms of simulated time`)
    return await tracked
  }

  /** An AbortSignal on the simulated clock. */
  timeout (ms: number): AbortSignal {
    const controller = new AbortController()
    setTimeout(() => { controller.abort(new Error('timed out')) }, ms)
    return controller.signal
  }

  random (): number { return this.random01() }

  lane (from: number, to: number): Lane { return this.lanes.get(`${from}>${to}`) as Lane }

  /** A command starts (kept in the log; printed at once with SIM_TRACE=1). */
  step (what: string): void {
    if (process.env.SIM_TRACE === '1') console.info(`  ${this.clock.now() - 1_700_000_000_000}ms ${what}`)
    this.note(what)
  }

  private note (what: string): void {
    this.log.push(`${this.clock.now() - 1_700_000_000_000}ms ${what}`)
  }

  /** Start (or restart) the page of `slot`: a new node with the same id, a new messenger on the kept storage. */
  async start (slot: Slot): Promise<void> {
    const node = this.net.add(slot.peerId)
    for (const other of this.slots) if (other !== slot) node.known.add(other.peerId.toString())
    const inc: Incarnation = { n: ++slot.incarnations, alive: true, node, messenger: undefined as any, requestor: undefined as any, reading: Promise.resolve() }
    const c = this.config
    const outbox = c.outbox ? await this.settle(openOutbox(outboxStore(slot.store, inc, this))) : undefined
    const messenger = createMessenger<Uint8Array>(node as any, {
      protocol: PROTOCOL,
      codec: bytes(),
      delivery: c.delivery,
      outbox,
      receipts: receiptStore(slot.store, inc),
      maxQueuedMessages: c.maxQueuedMessages,
      queueTtl: c.queueTtl,
      maxInboundMessages: c.maxInboundMessages,
      handoverTimeout: c.handoverTimeout,
      idleTimeout: c.idleTimeout
    })
    inc.messenger = messenger
    inc.outbox = outbox
    // requests on the same node: the handler answers after a while, or (rarely) never
    inc.requestor = createRequestor<Ask, Answer>(node as any, {
      protocol: '/sim-rpc/1.0.0',
      requestCodec: json<Ask>(),
      responseCodec: json<Answer>(),
      mode: c.requestMode,
      timeout: 5_000,
      handlerTimeout: 8_000,
      handler: async (ask, ctx) => {
        const rec = this.requests.find(r => r.id === ask.id)
        if (rec != null) {
          rec.handled++
          if (rec.handled > 1) this.guard(() => { throw new Violation(`request ${ask.id} handled ${rec.handled} times (a request is sent at most once)`) })
        }
        const wait = ask.id % 7 === 6 ? 60_000 : Math.floor(this.random() * 300)
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, wait)
          ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(ctx.signal.reason) }, { once: true })
        })
        return { id: ask.id, by: slot.index }
      }
    })
    slot.inc = inc
    messenger.addEventListener('error', (e) => { if (inc.alive) this.note(`error at ${slot.index}: ${e.detail.error.message}`) })
    messenger.addEventListener('drop', (e) => { if (inc.alive) this.guard(() => { this.dropped(slot, e.detail) }) })
    messenger.addEventListener('delivered', (e) => {
      if (!inc.alive) return
      this.guard(() => {
        const to = this.slotOf(e.detail.peer)
        const lane = this.lane(slot.index, to.index)
        for (let s = e.detail.first; s <= e.detail.last; s++) {
          const m = this.byNumber(lane, inc, s)
          if (m == null) throw new Violation(`lane ${lane.from}>${lane.to}: 'delivered' names seq ${s}, which send() never returned`)
          lane.confirmedDelivered.add(m)
        }
      })
    })
    inc.reading = this.read(slot, inc)
    await this.settle(messenger.ready)
    await this.settle(inc.requestor.ready)
    this.note(`start ${slot.index}#${inc.n}`)
    if (inc.n > 1) {
      // a restarted page finds its room again (room discovery) and dials the others
      setTimeout(() => {
        for (const other of this.slots) {
          if (other === slot || !inc.alive || other.inc == null) continue
          void node.dial(other.peerId).catch(() => {})
        }
      }, 100 + Math.floor(this.random() * 1_000))
    }
  }

  private slotOf (peer: PeerId): Slot {
    const slot = this.slots.find(s => s.peerId.equals(peer))
    if (slot == null && this.attacker?.peerId.equals(peer) === true) throw new Attacker()
    if (slot == null) throw new Violation(`event names an unknown peer ${peer.toString()}`)
    return slot
  }

  private async read (slot: Slot, inc: Incarnation): Promise<void> {
    while (inc.alive) {
      if (slot.pace < 0) {
        slot.gate ??= Promise.withResolvers<void>()
        await slot.gate.promise
        continue
      }
      let item
      try {
        item = await inc.messenger.receive()
      } catch {
        return
      }
      if (!inc.alive) return
      this.guard(() => { this.received(slot, item.from, item.data) })
      if (slot.pace > 0) await new Promise(resolve => setTimeout(resolve, slot.pace))
    }
  }

  setPace (slot: Slot, pace: number): void {
    slot.pace = pace
    if (pace >= 0 && slot.gate != null) {
      const gate = slot.gate
      slot.gate = undefined
      gate.resolve()
    }
  }

  // --- the applications ---

  send (from: Slot, to: Slot, count: number): void {
    const inc = from.inc
    if (inc == null) return
    const lane = this.lane(from.index, to.index)
    for (let i = 0; i < count; i++) {
      const n = from.counter++
      const seq = inc.messenger.send(to.peerId, this.payload(from.index, to.index, n))
      this.sent(lane, inc, n, seq)
    }
  }

  /** The messenger's own broadcast: one payload for every peer, numbered by a counter of the sender's. */
  broadcast (from: Slot, count: number): void {
    const inc = from.inc
    if (inc == null) return
    for (let i = 0; i < count; i++) {
      const n = from.counter++
      const members = inc.messenger.peers()
      const peers = inc.messenger.broadcast(this.payload(from.index, BROADCAST, n))
      for (const p of members) {
        const to = this.slots.find(s => s.peerId.equals(p))
        // refused by a full queue: not among the peers broadcast() returns
        if (to != null && !peers.some(q => q.equals(p))) this.lane(from.index, to.index).refused++
      }
      for (const p of peers) {
        const to = this.slots.find(s => s.peerId.equals(p))
        if (to == null) continue
        // broadcast() returns the peers, not the numbers: read the lane's (white box)
        const seq = ((inc.messenger as any).outbound.get(p.toString())?.nextSeq ?? 0) - 1
        this.sent(this.lane(from.index, to.index), inc, n, seq)
      }
    }
  }

  /** `count` requests from `from` to `to`: each must settle once, with the right answer or a documented error, by its timeout. */
  request (from: Slot, to: Slot, count: number): void {
    const inc = from.inc
    if (inc == null) return
    for (let i = 0; i < count; i++) {
      const rec: RequestRecord = { id: this.requests.length, from: from.index, to: to.index, inc: inc.n, at: this.clock.now(), timeout: 5_000, handled: 0 }
      this.requests.push(rec)
      inc.requestor.request(to.peerId, { id: rec.id, from: from.index }).then((answer) => {
        this.guard(() => {
          if (rec.settled != null) throw new Violation(`request ${rec.id} settled twice`)
          rec.settled = 'ok'
          if (answer.id !== rec.id || answer.by !== to.index) throw new Violation(`request ${rec.id} to ${to.index} got the answer to ${answer.id} from ${answer.by}`)
        })
      }, (err: Error) => {
        this.guard(() => {
          if (rec.settled != null) throw new Violation(`request ${rec.id} settled twice`)
          rec.settled = err?.name ?? String(err)
          if (!REQUEST_ERRORS.has(rec.settled)) throw new Violation(`request ${rec.id} failed with an undocumented error: ${rec.settled}: ${err?.message}`)
        })
      })
    }
  }

  private payload (from: number, to: number, n: number): Uint8Array {
    const out = new Uint8Array(Math.max(8, this.config.payload))
    out[0] = from
    out[1] = to
    new DataView(out.buffer).setUint32(2, n)
    return out
  }

  private sent (lane: Lane, inc: Incarnation, n: number, seq: number): void {
    if (seq < 0) {
      lane.refused++
      return
    }
    const reused = lane.sent.find(m => m.seq === seq && (this.config.outbox || m.inc === inc.n))
    if (reused != null) throw new Violation(`lane ${lane.from}>${lane.to}: sequence number ${seq} handed out again (first for message ${reused.n} by incarnation ${reused.inc}, now for ${n} by ${inc.n})`)
    lane.sent.push({ n, seq, inc: inc.n, at: this.clock.now() })
  }

  private received (slot: Slot, from: PeerId, data: Uint8Array): void {
    const sender = this.slotOf(from)
    if (data.byteLength < 8) throw new Violation(`message too short from ${sender.index}`)
    const n = new DataView(data.buffer, data.byteOffset).getUint32(2)
    if (data[0] !== sender.index || (data[1] !== slot.index && data[1] !== BROADCAST)) throw new Violation(`message ${n} claims ${data[0]}>${data[1]} but came ${sender.index}>${slot.index}`)
    const lane = this.lane(sender.index, slot.index)
    const last = lane.delivered[lane.delivered.length - 1]
    if (lane.deliveredSet.has(n)) throw new Violation(`lane ${lane.from}>${lane.to}: message ${n} delivered twice`)
    if (last != null && n < last) throw new Violation(`lane ${lane.from}>${lane.to}: message ${n} delivered after ${last} (reordered)`)
    const m = lane.sent.find(x => x.n === n)
    if (m != null && lane.dropped.has(m.seq) && this.config.outbox) throw new Violation(`lane ${lane.from}>${lane.to}: message ${n} (seq ${m.seq}) delivered after a drop event named it`)
    lane.delivered.push(n)
    lane.deliveredSet.add(n)
  }

  /** The message a sequence number names: numbers are per incarnation, or for good with an outbox. */
  private byNumber (lane: Lane, inc: Incarnation, seq: number): SentMessage | undefined {
    return lane.sent.find(x => x.seq === seq && x.inc === inc.n) ?? (this.config.outbox ? lane.sent.find(x => x.seq === seq) : undefined)
  }

  private dropped (slot: Slot, d: DropDetail): void {
    const to = this.slotOf(d.peer)
    const lane = this.lane(slot.index, to.index)
    if (d.first == null || d.last == null) {
      if (d.reason !== 'queue-full') throw new Violation(`a ${d.reason} drop without sequence numbers`)
      lane.refusedReported += d.count
      return
    }
    if (d.last - d.first + 1 !== d.count) throw new Violation(`drop event ${d.first}…${d.last} says count ${d.count}`)
    const unconfirmed = (d as DropDetail & { unconfirmed?: boolean }).unconfirmed === true
    for (let s = d.first; s <= d.last; s++) {
      const m = this.byNumber(lane, slot.inc as Incarnation, s)
      if (m == null) throw new Violation(`lane ${lane.from}>${lane.to}: drop event (${d.reason}) names seq ${s}, which send() never returned`)
      if (!unconfirmed && lane.deliveredSet.has(m.n)) throw new Violation(`lane ${lane.from}>${lane.to}: drop event (${d.reason}) names seq ${s}, message ${m.n}, which was delivered`)
      ;(unconfirmed ? lane.droppedUnconfirmed : lane.dropped).add(s)
    }
  }

  // --- faults ---

  /** Reload (`crash` false: pagehide ran) or crash the page of `slot`, then start it again. */
  async reload (slot: Slot, crash: boolean): Promise<void> {
    const inc = slot.inc
    if (inc == null) return
    this.note(`${crash ? 'crash' : 'reload'} ${slot.index}#${inc.n}`)
    // pagehide: the outbox saves what storage does not have yet (a crash gives it no chance)
    if (!crash) (inc.outbox as any)?.spill()
    inc.alive = false
    // pagehide aborts relayed connections at once; a direct (WebRTC) peer notices only by ping
    inc.node.kill((conn) => crash || conn.direct ? PING_DETECT : this.config.latency)
    this.setPace(slot, slot.pace) // wake a paused reader so it sees the page is gone
    if (slot.gate != null) { const g = slot.gate; slot.gate = undefined; g.resolve() }
    await this.settle(inc.messenger.stop().catch(() => {}))
    await this.settle(inc.requestor.stop().catch(() => {}))
    await this.settle(inc.outbox?.close() ?? Promise.resolve())
    await this.clock.advance(50 + Math.floor(this.random() * 500))
    await this.start(slot)
  }

  pick<T> (items: T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.random() * items.length)]
  }

  connections (a: Slot, b: Slot): SimConnection[] {
    return (a.inc?.node.connections ?? []).filter(c => c.remotePeer.equals(b.peerId) && c.status === 'open')
  }

  // --- invariants ---

  /** Run an invariant check inside an event listener: a violation fails the next step. */
  private guard (fn: () => void): void {
    try {
      fn()
    } catch (err: any) {
      if (err instanceof Attacker) return // events about the hostile peer's lane: not an honest lane
      this.failure ??= err
    }
  }

  /** After every step. */
  checkStep (): void {
    if (this.failure != null) throw this.failure
    for (const slot of this.slots) {
      const inc = slot.inc
      if (inc == null) continue
      // the per-peer inbound cap holds (plus what one chunk can carry)
      const inbox = (inc.messenger as any).inbox.length as number
      const slack = Math.ceil(16 * 1024 / (this.config.payload + 6)) + 1
      const senders = this.slots.length - 1
      if (inbox > senders * (this.config.maxInboundMessages + slack)) throw new Violation(`peer ${slot.index} holds ${inbox} received messages, over ${senders} × (${this.config.maxInboundMessages} + ${slack})`)
      for (const conn of inc.node.connections) {
        for (const s of conn.streams) {
          for (const type of ['drain', 'idle', 'close', 'message', 'end']) {
            if (s.listenerCount(type) > 6) throw new Violation(`stream ${s.id} (${s.protocol}) has ${s.listenerCount(type)} '${type}' listeners`)
          }
        }
      }
    }
    this.checkSupersede()
    const now = this.clock.now()
    for (const r of this.requests) {
      if (r.settled == null && now > r.at + r.timeout + REQUEST_GRACE) throw new Violation(`request ${r.id} (${r.from}>${r.to}) still pending ${now - r.at} ms after it was made (timeout ${r.timeout} ms)`)
    }
    // confirmed mode: 'delivered' only for what the receiving application took
    if (this.config.delivery === 'confirmed') {
      for (const lane of this.lanes.values()) {
        for (const m of lane.confirmedDelivered) {
          if (!lane.deliveredSet.has(m.n)) throw new Violation(`lane ${lane.from}>${lane.to}: seq ${m.seq} (message ${m.n}) reported delivered, never taken by the receiving application`)
        }
      }
    }
  }

  /**
   * A lane moves off a connection as soon as a better one, or a newer one as
   * good, can carry streams: no honest stream on the older connection is
   * written to after that (defect 7: a reloaded peer unreachable for seconds).
   */
  private checkSupersede (): void {
    for (const slot of this.slots) {
      const node = slot.inc?.node
      if (node == null) continue
      const conns = node.connections.filter(c => c.status === 'open')
      for (const rec of this.net.streams) {
        const old = rec.conn
        if (old == null || old.node !== node || rec.lastWriteAt == null || !rec.protocol.startsWith(PROTOCOL) || old.status !== 'open') continue
        for (const c of conns) {
          // a candidate is alive (its other side is there) and trusted by the SDK (not being probed)
          if (c === old || !c.remotePeer.equals(old.remotePeer) || c.usableAt == null || c.rank === 0 || c.peer == null || !c.peer.node.alive || c.peer.status !== 'open' || isSuspect(c as any)) continue
          const supersedes = c.rank > old.rank || (c.rank === old.rank && c.timeline.open > old.timeline.open)
          if (supersedes && rec.lastWriteAt > Math.max(c.usableAt, c.trustedAt ?? 0) + 1) {
            throw new Violation(`peer ${slot.index} wrote to stream ${rec.id} on ${old.id} (${old.kind}) at ${rec.lastWriteAt - 1_700_000_000_000} ms although ${c.id} (${c.kind}, newer) could carry streams since ${c.usableAt - 1_700_000_000_000} ms`)
          }
        }
      }
    }
  }

  /** Faults end, readers catch up: run until nothing is pending, within a bound. */
  async quiesce (limit = 120_000): Promise<void> {
    this.net.heal()
    for (const s of this.slots) this.setPace(s, 0)
    const end = this.clock.now() + limit
    while (this.clock.now() < end) {
      await this.clock.advance(1_000)
      this.checkStep()
      if (this.honestPending() === 0 && this.allArrived()) return
    }
    const missing = [...this.lanes.values()].map(l => `${l.from}>${l.to}: ${l.sent.filter(m => !this.mayBeLost(l, m) && !l.deliveredSet.has(m.n)).length} missing`).join(', ')
    const pending = `${this.honestPending()} pending; ${missing}${process.env.SIM_DEBUG === '1' ? '\n' + this.describe() : ''}`
    throw new Violation(`not quiescent ${limit} ms after the faults ended (${pending})`)
  }

  /** Every lane in detail (SIM_DEBUG=1). */
  describe (): string {
    const out: string[] = []
    for (const lane of this.lanes.values()) {
      if (lane.sent.length === 0) continue
      out.push(`lane ${lane.from}>${lane.to}: sent ${lane.sent.map(m => `${m.n}@${m.seq}#${m.inc}`).join(' ')}; delivered ${lane.delivered.join(' ')}; dropped ${[...lane.dropped].join(' ')}`)
      for (const [rec, ns] of this.framesByStream(lane)) out.push(`  stream ${rec.id} ${rec.protocol} ${rec.end ?? 'open'}: ${ns.join(' ')}`)
    }
    return out.join('\n')
  }

  /** Messages queued between honest peers. */
  private honestPending (): number {
    let n = 0
    for (const a of this.slots) for (const b of this.slots) if (a !== b) n += a.inc?.messenger.pending(b.peerId) ?? 0
    return n
  }

  private allArrived (): boolean {
    for (const lane of this.lanes.values()) {
      const expected = lane.sent.filter(m => !this.mayBeLost(lane, m))
      if (expected.some(m => !lane.deliveredSet.has(m.n))) return false
    }
    return true
  }

  private mayBeLost (lane: Lane, m: SentMessage): boolean {
    if (lane.dropped.has(m.seq) || lane.droppedUnconfirmed.has(m.seq)) return true
    const sender = this.slots[lane.from]
    // without an outbox, a page that died took its queue with it
    if (!this.config.outbox && m.inc !== sender.incarnations) return true
    // default mode: only what was in flight on a stream that broke
    return this.config.delivery === 'default' && this.inFlightOnBrokenStream(lane).has(m.n)
  }

  /** Default mode: the messages of `lane` written to a stream that then broke (candidates for in-flight loss). */
  private inFlightOnBrokenStream (lane: Lane): Set<number> {
    const out = new Set<number>()
    for (const [rec, ns] of this.framesByStream(lane)) {
      if (broken(rec)) for (const n of ns) out.add(n)
    }
    return out
  }

  /** For each honest stream of `lane`, the message numbers written to it, in order. */
  framesByStream (lane: Lane): Array<[StreamRecord, number[]]> {
    const from = this.slots[lane.from].peerId.toString()
    const to = this.slots[lane.to].peerId.toString()
    const confirmed = this.config.delivery === 'confirmed'
    const out: Array<[StreamRecord, number[]]> = []
    for (const rec of this.net.streams) {
      if (rec.from !== from || rec.to !== to || !rec.protocol.startsWith(PROTOCOL)) continue
      out.push([rec, decodeNumbers(rec.written, confirmed)])
    }
    return out
  }

  /** At the end: every message arrived, was reported dropped, or is an allowed in-flight loss. */
  checkEnd (): void {
    if (this.failure != null) throw this.failure
    for (const lane of this.lanes.values()) {
      if (lane.refused !== lane.refusedReported) throw new Violation(`lane ${lane.from}>${lane.to}: ${lane.refused} sends refused, ${lane.refusedReported} reported`)
      const sender = this.slots[lane.from]
      const lost: SentMessage[] = lane.sent.filter(m => !lane.deliveredSet.has(m.n) && !lane.dropped.has(m.seq) && !lane.droppedUnconfirmed.has(m.seq) && (this.config.outbox || m.inc === sender.incarnations))
      if (lost.length === 0) continue
      if (this.config.delivery === 'confirmed') {
        throw new Violation(`lane ${lane.from}>${lane.to} (confirmed): ${lost.length} messages lost silently, first ${lost[0].n} (seq ${lost[0].seq})`)
      }
      const lostSet = new Set(lost.map(m => m.n))
      const streams = this.framesByStream(lane)
      for (const m of lost) {
        const carrier = streams.find(([, ns]) => ns.includes(m.n))
        if (carrier == null) throw new Violation(`lane ${lane.from}>${lane.to}: message ${m.n} (seq ${m.seq}) lost without ever being written to a stream, and no drop event`)
        const [rec, ns] = carrier
        if (!broken(rec)) throw new Violation(`lane ${lane.from}>${lane.to}: message ${m.n} lost on stream ${rec.id}, which ended ${rec.end ?? 'open'}, not broken, and its receiver lives`)
        const first = ns.findIndex(x => lostSet.has(x))
        const suffix = ns.slice(first)
        if (suffix.some(x => !lostSet.has(x))) throw new Violation(`lane ${lane.from}>${lane.to}: the messages lost on stream ${rec.id} are not one run at its end (${suffix.filter(x => !lostSet.has(x)).slice(0, 3).join(',')} arrived after a lost one)`)
        // in flight, plus, when the receiving page died, what it held for its application (its inbound cap)
        const frame = this.config.payload + 6
        const held = rec.receiver?.alive === false ? Math.min(this.config.maxInboundMessages * frame, 16 * 1024 * 1024) + 16 * 1024 : 0
        if (suffix.length * frame > IN_FLIGHT_BOUND + held) throw new Violation(`lane ${lane.from}>${lane.to}: ${suffix.length} messages lost in flight on stream ${rec.id}, over the bound`)
      }
    }
  }

  /** Stop everything; afterwards no timer, listener or registration of the SDK may be left. */
  async stop (): Promise<void> {
    for (const slot of this.slots) {
      const inc = slot.inc
      if (inc == null) continue
      const node = inc.node
      await this.settle(inc.messenger.stop())
      await this.settle(inc.requestor.stop())
      await this.settle(inc.outbox?.close() ?? Promise.resolve())
      inc.alive = false
      if (slot.gate != null) { const g = slot.gate; slot.gate = undefined; g.resolve() }
      await this.settle(inc.reading)
      if (node.registrations !== 0) throw new Violation(`peer ${slot.index}: ${node.registrations} handlers or topologies left after stop()`)
      for (const type of ['connection:open', 'connection:close']) {
        if (node.listenerCount(type) !== 0) throw new Violation(`peer ${slot.index}: ${node.listenerCount(type)} '${type}' listeners left after stop()`)
      }
    }
    for (const slot of this.slots) slot.inc?.node.kill(() => 0)
    this.attacker?.kill(() => 0)
    this.net.stop()
    await this.clock.advance(60_000)
    await this.clock.advance(60_000)
    const left = this.clock.pending()
    if (left !== 0) throw new Violation(`${left} timers left after stop()`)
  }

  dispose (): void {
    livenessEvents.removeEventListener('cleared', this.onCleared)
    this.clock.uninstall()
  }
}

/** A stream whose data may not all have arrived: it broke, or the page it went to died. */
function broken (rec: StreamRecord): boolean {
  return rec.end === 'broken' || rec.receiver?.alive === false
}

/** The message numbers in the honest frames of a stream (default: prefix + payload; confirmed: prefix + seq + payload, seq 0 = hello). */
function decodeNumbers (written: Uint8ArrayList, confirmed: boolean): number[] {
  const bytes = written.subarray()
  const out: number[] = []
  let pos = 0
  const varint = (): number => {
    let v = 0
    let shift = 0
    for (;;) {
      if (pos >= bytes.byteLength) return -1
      const b = bytes[pos++]
      v += (b & 0x7f) * 2 ** shift
      shift += 7
      if (b < 0x80) return v
    }
  }
  while (pos < bytes.byteLength) {
    const len = varint()
    if (len < 0 || pos + len > bytes.byteLength) break
    const end = pos + len
    if (confirmed) {
      const seq = varint()
      if (seq === 0) { pos = end; continue }
    }
    if (end - pos >= 6) out.push(new DataView(bytes.buffer, bytes.byteOffset + pos).getUint32(2))
    pos = end
  }
  return out
}
