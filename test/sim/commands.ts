/**
 * The simulator's fault vocabulary as fast-check model-based commands: a
 * scenario is a configuration plus a sequence of these, generated from a seed
 * and shrunk to the shortest sequence that still breaks an invariant.
 */
import fc from 'fast-check'
import { PROTOCOL, World, PING_DETECT, type SimConfig } from './world.js'
import type { SimConnection, SimStream } from './network.js'
import type { PeerId } from '@libp2p/interface'

type Model = Record<string, never>
type Cmd = fc.AsyncCommand<Model, World, false>

/** Faults and actions run so far, by kind (for the figures `npm run sim` prints). */
export const stepCounts = new Map<string, number>()

abstract class Step implements Cmd {
  check (): boolean { return true }
  async run (_m: Model, w: World): Promise<void> {
    stepCounts.set(this.constructor.name, (stepCounts.get(this.constructor.name) ?? 0) + 1)
    w.step(this.toString())
    await this.apply(w)
    await w.clock.advance(1)
    w.checkStep()
  }

  abstract apply (w: World): Promise<void> | void
  abstract toString (): string
}

const honest = (s: SimStream): boolean => s.protocol.startsWith(PROTOCOL)

function streamsBetween (w: World, a: number, b: number, side: 'writer' | 'reader'): SimStream[] {
  const [mine, other] = side === 'writer' ? [w.slots[a], w.slots[b]] : [w.slots[b], w.slots[a]]
  return w.connections(mine, other).flatMap(c => c.streams).filter(s => honest(s) && s.direction === (side === 'writer' ? 'outbound' : 'inbound'))
}

export class Send extends Step {
  constructor (readonly from: number, readonly to: number, readonly count: number) { super() }
  apply (w: World): void { w.send(w.slots[this.from], w.slots[this.to], this.count) }
  toString (): string { return `send(${this.from}>${this.to}, ${this.count})` }
}

export class Request extends Step {
  constructor (readonly from: number, readonly to: number, readonly count: number) { super() }
  apply (w: World): void { w.request(w.slots[this.from], w.slots[this.to], this.count) }
  toString (): string { return `request(${this.from}>${this.to}, ${this.count})` }
}

export class Broadcast extends Step {
  constructor (readonly from: number, readonly count: number) { super() }
  apply (w: World): void { w.broadcast(w.slots[this.from], this.count) }
  toString (): string { return `broadcast(${this.from}, ${this.count})` }
}

export class Advance extends Step {
  constructor (readonly ms: number) { super() }
  async apply (w: World): Promise<void> {
    // in slices, checking the invariants as time passes
    for (let left = this.ms; left > 0; left -= 250) {
      await w.clock.advance(Math.min(250, left))
      w.checkStep()
    }
  }

  toString (): string { return `advance(${this.ms})` }
}

export class ResetStream extends Step {
  constructor (readonly a: number, readonly b: number, readonly side: 'writer' | 'reader', readonly k: number) { super() }
  apply (w: World): void {
    const streams = streamsBetween(w, this.a, this.b, this.side)
    streams[this.k % Math.max(1, streams.length)]?.abort(new Error('simulated reset'))
  }

  toString (): string { return `resetStream(${this.a}>${this.b}, ${this.side}, ${this.k})` }
}

export class CloseWriter extends Step {
  constructor (readonly a: number, readonly b: number, readonly k: number) { super() }
  apply (w: World): void {
    const streams = streamsBetween(w, this.a, this.b, 'writer')
    void streams[this.k % Math.max(1, streams.length)]?.close().catch(() => {})
  }

  toString (): string { return `closeWriter(${this.a}>${this.b}, ${this.k})` }
}

function pickConnection (w: World, a: number, b: number, k: number): SimConnection | undefined {
  const conns = w.connections(w.slots[a], w.slots[b])
  return conns[k % Math.max(1, conns.length)]
}

export class AbortConnection extends Step {
  constructor (readonly a: number, readonly b: number, readonly k: number, readonly silent: boolean) { super() }
  apply (w: World): void { pickConnection(w, this.a, this.b, this.k)?.abort(new Error('simulated connection loss'), this.silent ? PING_DETECT : undefined) }
  toString (): string { return `abortConnection(${this.a}-${this.b}, ${this.k}${this.silent ? ', silent' : ''})` }
}

export class CloseConnection extends Step {
  constructor (readonly a: number, readonly b: number, readonly k: number) { super() }
  apply (w: World): void { void pickConnection(w, this.a, this.b, this.k)?.close() }
  toString (): string { return `closeConnection(${this.a}-${this.b}, ${this.k})` }
}

export class AddConnection extends Step {
  constructor (readonly a: number, readonly b: number, readonly kind: 'direct' | 'relayed', readonly iceDelay: number) { super() }
  apply (w: World): void {
    const [x, y] = [w.slots[this.a].inc?.node, w.slots[this.b].inc?.node]
    if (x != null && y != null && w.net.reachable(x, y)) w.net.connect(x, y, this.kind, this.iceDelay)
  }

  toString (): string { return `addConnection(${this.a}-${this.b}, ${this.kind}${this.iceDelay > 0 ? `, ICE after ${this.iceDelay} ms` : ''})` }
}

export class HalfOpen extends Step {
  constructor (readonly a: number, readonly b: number) { super() }
  apply (w: World): void {
    const [x, y] = [w.slots[this.a].inc?.node, w.slots[this.b].inc?.node]
    if (x == null || y == null) return
    w.net.halfOpen(x, y, 'direct')
  }

  toString (): string { return `halfOpen(${this.a} thinks it has ${this.b})` }
}

export class BlackHole extends Step {
  constructor (readonly a: number, readonly b: number) { super() }
  apply (w: World): void {
    const [x, y] = [w.slots[this.a], w.slots[this.b]]
    if (x.inc == null || y.inc == null) return
    w.net.blackHole(x.inc.node, y.inc.node)
  }

  toString (): string { return `blackHole(${this.a}-${this.b})` }
}

export class Stall extends Step {
  constructor (readonly a: number, readonly b: number, readonly ms: number) { super() }
  apply (w: World): void {
    const [x, y] = [w.slots[this.a].inc?.node, w.slots[this.b].inc?.node]
    if (x != null && y != null) w.net.stall(x, y, w.clock.now() + this.ms)
  }

  toString (): string { return `stall(${this.a}-${this.b}, ${this.ms})` }
}

export class Partition extends Step {
  constructor (readonly a: number, readonly b: number) { super() }
  apply (w: World): void {
    const [x, y] = [w.slots[this.a].inc?.node, w.slots[this.b].inc?.node]
    if (x == null || y == null) return
    w.net.partition(x, y, true)
    for (const c of w.connections(w.slots[this.a], w.slots[this.b])) c.abort(new Error('network gone'), PING_DETECT)
  }

  toString (): string { return `partition(${this.a}-${this.b})` }
}

export class Heal extends Step {
  apply (w: World): void { w.net.heal() }
  toString (): string { return 'heal()' }
}

export class Pace extends Step {
  constructor (readonly slot: number, readonly pace: number) { super() }
  apply (w: World): void { w.setPace(w.slots[this.slot], this.pace) }
  toString (): string { return `pace(${this.slot}, ${this.pace < 0 ? 'paused' : this.pace === 0 ? 'fast' : `${this.pace} ms`})` }
}

export class Reload extends Step {
  constructor (readonly slot: number, readonly crash: boolean) { super() }
  async apply (w: World): Promise<void> { await w.reload(w.slots[this.slot], this.crash) }
  toString (): string { return `${this.crash ? 'crash' : 'reload'}(${this.slot})` }
}

/** A hostile peer opens a stream to `slot` on its protocol and writes garbage. */
export class Garbage extends Step {
  constructor (readonly slot: number, readonly bytes: Uint8Array, readonly close: boolean) { super() }
  async apply (w: World): Promise<void> {
    const target = w.slots[this.slot].inc?.node
    const attacker = w.attacker
    if (target == null || attacker == null) return
    const conn = w.net.connect(attacker, target, 'relayed')
    const protocol = w.config.delivery === 'confirmed' ? `${PROTOCOL}/confirmed` : PROTOCOL
    // runs on as simulated time passes
    void (async () => {
      const stream = await conn.newStream(protocol, { runOnLimitedConnection: true, signal: w.timeout(5_000) })
      stream.send(this.bytes)
      if (this.close) await stream.close()
    })().catch(() => {})
  }

  toString (): string { return `garbage(${this.slot}, ${this.bytes.byteLength} bytes${this.close ? ', closed' : ''})` }
}

export function commands (config: SimConfig): Array<fc.Arbitrary<Cmd>> {
  const peer = fc.integer({ min: 0, max: config.peers - 1 })
  const pair = fc.tuple(peer, peer).filter(([a, b]) => a !== b)
  return [
    fc.tuple(pair, fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 20, max: 300 }))).map(([[a, b], n]) => new Send(a, b, n)),
    fc.tuple(pair, fc.integer({ min: 20, max: 300 })).map(([[a, b], n]) => new Send(a, b, n)),
    fc.tuple(peer, fc.integer({ min: 1, max: 50 })).map(([a, n]) => new Broadcast(a, n)),
    fc.tuple(pair, fc.integer({ min: 1, max: 40 })).map(([[a, b], n]) => new Request(a, b, n)),
    fc.integer({ min: 1, max: 12_000 }).map(ms => new Advance(ms)),
    fc.tuple(pair, fc.constantFrom('writer' as const, 'reader' as const), fc.nat(3)).map(([[a, b], side, k]) => new ResetStream(a, b, side, k)),
    fc.tuple(pair, fc.nat(3)).map(([[a, b], k]) => new CloseWriter(a, b, k)),
    fc.tuple(pair, fc.nat(3), fc.boolean()).map(([[a, b], k, silent]) => new AbortConnection(a, b, k, silent)),
    fc.tuple(pair, fc.nat(3)).map(([[a, b], k]) => new CloseConnection(a, b, k)),
    fc.tuple(pair, fc.constantFrom('direct' as const, 'relayed' as const), fc.constantFrom(0, 0, 500, 3_000)).map(([[a, b], kind, ice]) => new AddConnection(a, b, kind, kind === 'direct' ? ice : 0)),
    pair.map(([a, b]) => new HalfOpen(a, b)),
    pair.map(([a, b]) => new BlackHole(a, b)),
    fc.tuple(pair, fc.integer({ min: 100, max: 10_000 })).map(([[a, b], ms]) => new Stall(a, b, ms)),
    pair.map(([a, b]) => new Partition(a, b)),
    fc.constant(new Heal()),
    fc.tuple(peer, fc.constantFrom(-1, 0, 0, 1, 20)).map(([s, p]) => new Pace(s, p)),
    peer.map(s => new Pace(s, -1)),
    fc.tuple(peer, fc.boolean()).map(([s, crash]) => new Reload(s, crash)),
    fc.tuple(peer, fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.boolean()).map(([s, b, c]) => new Garbage(s, b, c))
  ]
}

export function configs (): fc.Arbitrary<SimConfig> {
  return fc.record({
    seed: fc.integer(),
    peers: fc.constantFrom(2, 2, 3),
    delivery: fc.constantFrom('default' as const, 'confirmed' as const),
    outbox: fc.boolean(),
    kind: fc.constantFrom('relayed' as const, 'direct' as const),
    latency: fc.integer({ min: 1, max: 40 }),
    payload: fc.constantFrom(8, 100, 1_000, 20_000),
    maxQueuedMessages: fc.constantFrom(5, 60, 10_000),
    queueTtl: fc.constantFrom(3_000, 30_000, Infinity),
    maxInboundMessages: fc.constantFrom(4, 50, 1_000),
    handoverTimeout: fc.constantFrom(200, 1_000, 5_000),
    idleTimeout: fc.constantFrom(300, 2_000, 60_000),
    requestMode: fc.constantFrom('multiplexed' as const, 'stream' as const)
  })
}

export interface ScenarioOptions {
  ids: PeerId[]
  attacker: PeerId
  maxCommands: number
}

/** A configuration and a fault sequence for it. */
export function scenarios (maxCommands: number, replayPath?: string): fc.Arbitrary<[SimConfig, Iterable<Cmd>]> {
  return configs().chain(c => fc.tuple(fc.constant(c), fc.commands(commands(c), { maxCommands, replayPath, size: '+1' })))
}

export async function runScenario (config: SimConfig, cmds: Iterable<Cmd>, opts: ScenarioOptions): Promise<void> {
  const world = await World.create(config, opts.ids, opts.attacker)
  try {
    await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds)
    await world.quiesce()
    world.checkEnd()
    await world.stop()
  } catch (err: any) {
    err.message = `${err.message}\n  config: ${JSON.stringify(config)}\n  log (last 30): ${world.log.slice(-30).join(' | ')}`
    throw err
  } finally {
    world.dispose()
  }
}
