/**
 * The messenger: a default channel plus any number of named channels over one
 * libp2p node, sharing a byte budget, priorities and a stop switch.
 */
import { ChannelImpl } from './channel.js'
import { DEFAULT_MAX_TOTAL_QUEUED_BYTES } from './constants.js'
import { MessengerStoppedError } from '../errors.js'
import { stopController, timedSignal } from '../util/signals.js'
import type { Channel, ChannelContext, ChannelInit, MessengerNode, ReceiptStore } from './channel.js'
import { laneStoreOf } from './store.js'
import type { Budget, OutboundLane } from './outbound-lane.js'
import type { Receipt } from './inbound-lane.js'
import type { Outbox } from './store.js'
import { checkOlderConnections } from './liveness.js'
import { defaultLogger } from '@libp2p/logger'
import type { AbortOptions, Connection, Logger } from '@libp2p/interface'

export interface MessengerInit<T> extends ChannelInit<T> {
  /** Protocol id of the default channel, e.g. `/chat/1.0.0`. */
  protocol: string
  /**
   * Bytes queued across all peers and channels before new messages are dropped
   * (or refused, per `queuePolicy`).
   *
   * @default 64 MiB
   */
  maxTotalQueuedBytes?: number
  /** Confirmed mode: where receivers remember what the application has taken. @default in memory */
  receipts?: ReceiptStore
  /**
   * A durable outbox (`openOutbox(...)`): queued messages are stored and
   * survive a restart; on creation the messenger resumes what a previous
   * session left. `stop()` keeps what is still queued there.
   */
  outbox?: Outbox
}

export interface Messenger<T> extends Channel<T> {
  /**
   * Add a channel: another message type on its own protocol id
   * (`<protocol>/<name>` unless `init.protocol` says otherwise) and its own
   * streams, queues and limits. Options not given are inherited from the
   * messenger.
   */
  channel<U>(name: string, init: ChannelInit<U>): Channel<U>
  /** Resolves once protocol handlers are registered (sending works before that). */
  readonly ready: Promise<void>
  /** With an outbox: resolves once every message sent so far is stored. */
  flush(options?: AbortOptions): Promise<void>
  /** Release every stream, timer and listener. Queued messages are dropped with reason `'stopped'`. */
  stop(): Promise<void>
}

/** Higher-priority lanes to the same peer write first. */
class Core implements ChannelContext {
  readonly node: MessengerNode
  readonly budget: Budget
  readonly signal: AbortSignal
  readonly receipts: ReceiptStore
  readonly log: Logger
  private readonly controller = stopController()
  private readonly byPeer = new Map<string, Map<OutboundLane, number>>()
  private readonly waiters = new Map<OutboundLane, Array<() => void>>()

  constructor (node: MessengerNode, maxBytes: number, receipts: ReceiptStore, protocol: string) {
    this.node = node
    this.log = (node.logger ?? defaultLogger()).forComponent(`libp2p-messenger:${protocol}`)
    this.budget = { bytes: 0, max: maxBytes }
    this.signal = this.controller.signal
    this.receipts = receipts
  }

  private readonly roomWaiters = new Set<{ check: () => boolean, resolve: () => void, reject: (err: Error) => void }>()

  async whenRoom (check: () => boolean, signal?: AbortSignal): Promise<void> {
    if (check()) {
      return
    }
    if (this.signal.aborted) {
      throw new MessengerStoppedError()
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        check,
        resolve: () => { done(); resolve() },
        reject: (err: Error) => { done(); reject(err) }
      }
      const onAbort = (): void => { waiter.reject(signal?.reason) }
      const done = (): void => {
        this.roomWaiters.delete(waiter)
        signal?.removeEventListener('abort', onAbort)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.roomWaiters.add(waiter)
    })
  }

  shrunk (): void {
    if (this.roomWaiters.size === 0) {
      return
    }
    for (const w of [...this.roomWaiters]) {
      if (w.check()) {
        w.resolve()
      }
    }
  }

  stop (): void {
    for (const w of [...this.roomWaiters]) {
      w.reject(new MessengerStoppedError())
    }
    this.controller.abort(new MessengerStoppedError())
    for (const list of this.waiters.values()) {
      for (const wake of list) {
        wake()
      }
    }
    this.waiters.clear()
    this.byPeer.clear()
  }

  track (lane: OutboundLane, priority: number, add: boolean): void {
    const key = lane.peer.toString()
    let lanes = this.byPeer.get(key)
    if (add) {
      if (lanes == null) {
        lanes = new Map()
        this.byPeer.set(key, lanes)
      }
      lanes.set(lane, priority)
    } else if (lanes != null) {
      lanes.delete(lane)
      if (lanes.size === 0) {
        this.byPeer.delete(key)
      }
      this.laneDrained(lane)
    }
  }

  waitTurn (lane: OutboundLane, priority: number): Promise<void> | undefined {
    const lanes = this.byPeer.get(lane.peer.toString())
    if (lanes == null || lanes.size < 2) {
      return undefined
    }
    for (const [other, p] of lanes) {
      if (p > priority && other.unwritten > 0 && other.active) {
        // wait for the higher-priority lane to empty, re-checking now and then
        // so a lane that stalls (backoff, a dead stream) cannot block us for long
        return new Promise<void>((resolve) => {
          const timer = setTimeout(done, 50)
          function done (): void {
            clearTimeout(timer)
            resolve()
          }
          const list = this.waiters.get(other) ?? []
          list.push(done)
          this.waiters.set(other, list)
        })
      }
    }
    return undefined
  }

  laneDrained (lane: OutboundLane): void {
    const list = this.waiters.get(lane)
    if (list != null) {
      this.waiters.delete(lane)
      for (const wake of list) {
        wake()
      }
    }
  }
}

class MessengerImpl<T> extends ChannelImpl<T> implements Messenger<T> {
  readonly ready: Promise<void>
  private readonly core: Core
  private readonly init: MessengerInit<T>
  private readonly channels = new Map<string, ChannelImpl<any>>()
  private readonly starts: Array<Promise<void>> = []

  /** A peer that connects again makes its older connections suspect (see liveness.ts). */
  private readonly onPeerConnection = (evt: CustomEvent<Connection>): void => {
    const usable = (conn: Connection): void => {
      for (const channel of this.allChannels()) {
        channel.connectionUsable(conn)
      }
    }
    // lanes on a connection that just became suspect move to the new one now
    if (checkOlderConnections(this.core.node, evt.detail, this.core.signal, usable, this.core.log) > 0) {
      usable(evt.detail)
    }
  }

  private readonly onOutboxError = (evt: CustomEvent<Error>): void => {
    this.safeDispatchEvent('error', { detail: { channel: 'outbox', error: evt.detail } })
  }

  constructor (core: Core, init: MessengerInit<T>) {
    super(core, 'default', init.protocol, init)
    this.core = core
    this.init = init
    if (init.outbox != null) {
      this.store = laneStoreOf(init.outbox)
      init.outbox.addEventListener('error', this.onOutboxError)
      this.restoreLanes()
    }
    core.node.addEventListener('connection:open', this.onPeerConnection)
    this.starts.push(this.start())
    this.ready = this.settle()
  }

  async flush (options?: AbortOptions): Promise<void> {
    await this.init.outbox?.flush(options)
  }

  channel<U>(name: string, init: ChannelInit<U>): Channel<U> {
    if (name === 'default' || this.channels.has(name)) {
      throw new Error(`Channel "${name}" already exists`)
    }
    const { protocol: _p, codec: _c, receipts: _r, maxTotalQueuedBytes: _m, outbox: _o, ...inherited } = this.init
    const channel = new ChannelImpl<U>(this.core, name, init.protocol ?? `${this.init.protocol}/${name}`, { ...inherited, ...init })
    channel.store = init.durable === false ? undefined : this.store
    channel.restoreLanes()
    this.channels.set(name, channel)
    this.starts.push(channel.start())
    return channel
  }

  /** Every channel, the default one first. */
  allChannels (): Array<ChannelImpl<any>> {
    return [this, ...this.channels.values()]
  }

  override async stop (): Promise<void> {
    // with an outbox, queued messages stay stored for the next session
    const keep = this.init.outbox != null
    this.core.node.removeEventListener('connection:open', this.onPeerConnection)
    this.core.stop()
    await Promise.all([...this.channels.values()].map(async c => { await c.stop(keep) }))
    await super.stop(keep)
    if (this.init.outbox != null) {
      this.init.outbox.removeEventListener('error', this.onOutboxError)
      const timed = timedSignal(5_000)
      await this.init.outbox.flush({ signal: timed.signal }).catch((err) => { this.log.error('the outbox could not store everything at stop - %e', err) })
      timed.clear()
    }
  }

  private async settle (): Promise<void> {
    // wait for channels added synchronously after creation too
    await Promise.resolve()
    await Promise.all(this.starts)
  }
}

/**
 * Create a messenger on a started libp2p node.
 *
 * ```ts
 * const messenger = createMessenger(node, { protocol: '/chat/1.0.0', codec: json<Chat>() })
 * messenger.send(peerId, { text: 'hi' })
 * for await (const { from, data } of messenger) console.log(from, data)
 * ```
 */
export function createMessenger<T> (node: MessengerNode, init: MessengerInit<T>): Messenger<T> {
  const core = new Core(node, init.maxTotalQueuedBytes ?? DEFAULT_MAX_TOTAL_QUEUED_BYTES, init.receipts ?? inMemory(), init.protocol)
  return new MessengerImpl<T>(core, init)
}

/** Receipts in memory: the default (Node, tests). */
function inMemory (): ReceiptStore {
  const map = new Map<string, Receipt>()
  return { get: (key) => map.get(key), set: (key, receipt) => { map.set(key, receipt) } }
}
