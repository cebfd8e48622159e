/**
 * The relay keeper with stubbed components in simulated time: what a user
 * relies on is that a reservation on every configured relay comes back after
 * any loss, without hammering a relay that is down.
 */
import { describe, it, expect, beforeAll, afterEach } from 'vitest'
import { relayKeeper, DEFAULT_RELAY_CHECK_INTERVAL, DEFAULT_RESERVATION_GRACE, type RelayKeeper, type RelayKeeperInit, type RelayStatus } from '../../src/browser/relay-keeper.js'
import { useFakeClock } from '../helpers/clock.js'
import { fakeComponents, peerIds, relayAddress, type Dial, type FakeComponents } from '../helpers/components.js'
import type { PeerId, Startable } from '@libp2p/interface'

const clock = useFakeClock()

let self: PeerId
let relays: PeerId[]
beforeAll(async () => { [self, ...relays] = await peerIds(3, 10) })

const running: Array<RelayKeeper & Startable> = []
afterEach(async () => { for (const k of running.splice(0)) await k.stop() })

interface Setup {
  c: FakeComponents
  keeper: RelayKeeper & Startable
  /** every reservation:change, in order */
  changes: RelayStatus[]
  /** our circuit address on relay `i`, as the address manager lists it once reserved */
  circuit(i: number): string
  /** the address manager gains (or loses) the reservation on relay `i`; `self:peer:update` fires */
  reserve(i: number, reserved?: boolean): void
}

async function startKeeper (init: Partial<RelayKeeperInit> = {}, count = 1): Promise<Setup> {
  const c = fakeComponents(self)
  const keeper = relayKeeper({ relays: relays.slice(0, count).map(r => relayAddress(r)), ...init })(c) as RelayKeeper & Startable
  const changes: RelayStatus[] = []
  keeper.addEventListener('reservation:change', (evt) => { changes.push(evt.detail) })
  const circuit = (i: number): string => `${relayAddress(relays[i])}/p2p-circuit/p2p/${self.toString()}`
  const reserved = new Set<number>()
  const reserve = (i: number, on = true): void => {
    if (on) reserved.add(i)
    else reserved.delete(i)
    c.addressManager.set('/ip4/127.0.0.1/tcp/9/ws', ...[...reserved].map(circuit))
    c.events.selfUpdate()
  }
  await keeper.start()
  await keeper.afterStart?.()
  running.push(keeper)
  await clock.flush()
  return { c, keeper, changes, circuit, reserve }
}

/** Succeed the one unsettled dial (a relay connection opens). */
function answer (c: FakeComponents): Dial {
  const open = c.connectionManager.unsettled()
  expect(open).toHaveLength(1)
  open[0].succeed()
  return open[0]
}

describe('relay keeper', () => {
  it('dials every configured relay at start, except one it already holds a reservation on', async () => {
    const c = fakeComponents(self)
    c.addressManager.set(`${relayAddress(relays[0])}/p2p-circuit/p2p/${self.toString()}`)
    const keeper = relayKeeper({ relays: [relayAddress(relays[0]), relayAddress(relays[1])] })(c) as RelayKeeper & Startable
    running.push(keeper)
    await keeper.start()
    await keeper.afterStart?.()
    await clock.flush()
    expect(c.connectionManager.dials.map(d => d.address.toString())).toEqual([relayAddress(relays[1])])
    expect(keeper.status()).toEqual([
      { address: relayAddress(relays[0]), reserved: true },
      { address: relayAddress(relays[1]), reserved: false }
    ])
    expect(keeper.online).toBe(true)
  })

  it('reports a reservation gained and lost, once each', async () => {
    const { c, keeper, changes, reserve } = await startKeeper()
    expect(keeper.online).toBe(false)
    answer(c)
    await clock.flush()
    reserve(0)
    await clock.flush()
    expect(keeper.online).toBe(true)
    // more address updates with the reservation still there: no new event
    c.events.selfUpdate()
    await clock.advance(DEFAULT_RELAY_CHECK_INTERVAL * 2)
    reserve(0, false)
    await clock.flush()
    expect(keeper.online).toBe(false)
    expect(changes).toEqual([
      { address: relayAddress(relays[0]), reserved: true },
      { address: relayAddress(relays[0]), reserved: false }
    ])
  })

  it('redials at once when the relay connection drops and takes the reservation with it', async () => {
    const { c, keeper, reserve } = await startKeeper()
    const first = answer(c)
    reserve(0)
    await clock.flush()
    expect(c.connectionManager.dials).toHaveLength(1)
    // the relay connection dies; the circuit listener removes our address
    c.connectionManager.close(c.connectionManager.getConnections(relays[0])[0] as any)
    reserve(0, false)
    await clock.flush()
    expect(c.connectionManager.dials).toHaveLength(2)
    expect(c.connectionManager.dials[1].address.toString()).toBe(first.address.toString())
    answer(c)
    reserve(0)
    await clock.flush()
    expect(keeper.online).toBe(true)
  })

  it('finds a lost reservation on its timer even when no event says so', async () => {
    const { c, reserve } = await startKeeper()
    answer(c)
    reserve(0)
    await clock.flush()
    // the address goes without any event, and the connection with it
    c.connectionManager.connections.splice(0)
    c.addressManager.set()
    await clock.advance(DEFAULT_RELAY_CHECK_INTERVAL)
    expect(c.connectionManager.dials).toHaveLength(2)
  })

  it('gets the reservation back after a relay restart: refused dials back off while it is down, and it is reserved again soon after it is up', async () => {
    const { c, keeper, reserve } = await startKeeper()
    answer(c)
    reserve(0)
    await clock.flush()
    // the relay process goes down for a minute: its connection drops and dials are refused
    let up = false
    c.connectionManager.onDial = (dial) => {
      if (up) {
        dial.succeed()
        // the relay grants the reservation once the connection is up
        queueMicrotask(() => { reserve(0) })
      } else {
        dial.fail(new Error('ECONNREFUSED'))
      }
    }
    c.connectionManager.close(c.connectionManager.connections[0])
    reserve(0, false)
    await clock.advance(60_000)
    const whileDown = c.connectionManager.dials.length - 1
    // it kept trying, but spaced out (min 500 ms doubling to 15 s): not a loop
    expect(whileDown).toBeGreaterThanOrEqual(4)
    expect(whileDown).toBeLessThanOrEqual(12)
    expect(keeper.online).toBe(false)
    up = true
    const back = clock.now()
    while (!keeper.online && clock.now() - back < 60_000) await clock.advance(100)
    expect(keeper.online).toBe(true)
    // within one full backoff plus one check interval
    expect(clock.now() - back).toBeLessThanOrEqual(15_000 + DEFAULT_RELAY_CHECK_INTERVAL)
    // and after that, no more dials
    const dials = c.connectionManager.dials.length
    await clock.advance(60_000)
    expect(c.connectionManager.dials).toHaveLength(dials)
  })

  it('backs off between failed dials: no hot loop over 5 simulated minutes, even with events firing all the time', async () => {
    const { c } = await startKeeper()
    c.connectionManager.onDial = (dial) => { dial.fail(new Error('ECONNREFUSED')) }
    c.connectionManager.unsettled()[0].fail(new Error('ECONNREFUSED'))
    // unrelated address and connection events every 100 ms: each one makes the keeper check
    const noise = setInterval(() => { c.events.selfUpdate() }, 100)
    await clock.advance(5 * 60_000)
    clearInterval(noise)
    const times = c.connectionManager.dials.map(d => d.at)
    // backoff 500 ms doubling to 15 s with jitter in [ceiling/2, ceiling]:
    // the gaps are at least 250, 500, 1000, 2000, 4000, then 7500 ms
    const floors = [250, 500, 1_000, 2_000, 4_000]
    for (let i = 1; i < times.length; i++) {
      expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(floors[i - 1] ?? 7_500)
      // and at most the 15 s ceiling (plus the 100 ms until the next event)
      expect(times[i] - times[i - 1]).toBeLessThanOrEqual(15_100)
    }
    expect(times.length).toBeGreaterThanOrEqual(20)
    expect(times.length).toBeLessThanOrEqual(45)
  })

  it('treats a dial that rejects with a plain Event (a failed WebSocket) like any failure', async () => {
    const { c } = await startKeeper()
    c.connectionManager.unsettled()[0].fail(new Event('error'))
    await clock.flush()
    expect(c.connectionManager.dials).toHaveLength(1)
    await clock.advance(DEFAULT_RELAY_CHECK_INTERVAL)
    expect(c.connectionManager.dials).toHaveLength(2)
  })

  it('abandons a dial that hangs after dialTimeout, then tries again', async () => {
    const { c } = await startKeeper({ dialTimeout: 2_000 })
    const hung = c.connectionManager.dials[0]
    await clock.advance(1_999)
    expect(hung.options.signal?.aborted).toBe(false)
    await clock.advance(1)
    expect(hung.options.signal?.aborted).toBe(true)
    expect(hung.settled).toBe(true)
    await clock.advance(DEFAULT_RELAY_CHECK_INTERVAL)
    expect(c.connectionManager.dials).toHaveLength(2)
  })

  it('drops a relay connection that gives no reservation within its grace, and dials the relay anew', async () => {
    const { c } = await startKeeper()
    answer(c)
    const conn = c.connectionManager.connections[0]
    await clock.advance(DEFAULT_RESERVATION_GRACE - 1)
    expect(conn.closedWith).toBeUndefined()
    expect(c.connectionManager.dials).toHaveLength(1)
    // the next check after the grace: closed, and a new dial
    await clock.advance(DEFAULT_RELAY_CHECK_INTERVAL)
    expect(conn.closedWith).toBeInstanceOf(Error)
    expect(conn.status).toBe('closed')
    expect(c.connectionManager.dials).toHaveLength(2)
  })

  it('keeps a relay connection whose reservation arrives within the grace', async () => {
    const { c, reserve } = await startKeeper()
    answer(c)
    await clock.advance(DEFAULT_RESERVATION_GRACE - 2_000)
    reserve(0)
    await clock.advance(DEFAULT_RESERVATION_GRACE * 6)
    expect(c.connectionManager.connections[0].closedWith).toBeUndefined()
    expect(c.connectionManager.dials).toHaveLength(1)
  })

  it('stop() leaves no timers and no listeners, aborts a dial in flight and dials no more', async () => {
    const { c, keeper } = await startKeeper({}, 2)
    const inFlight = c.connectionManager.unsettled()
    expect(inFlight).toHaveLength(2)
    expect(clock.pending()).toBeGreaterThan(0)
    expect(c.events.listenerTotal()).toBeGreaterThan(0)
    await keeper.stop()
    await clock.flush()
    expect(inFlight.every(d => d.options.signal?.aborted === true && d.settled)).toBe(true)
    expect(clock.pending()).toBe(0)
    expect(c.events.listenerTotal()).toBe(0)
    c.events.selfUpdate()
    keeper.checkAll()
    await clock.advance(60_000)
    expect(c.connectionManager.dials).toHaveLength(2)
  })

  it('refuses a relay address without a peer id', async () => {
    expect(() => relayKeeper({ relays: ['/ip4/127.0.0.1/tcp/1/ws'] })(fakeComponents(self))).toThrow(TypeError)
  })
})

describe('relay keeper: saying what is wrong, reaching peers by id', () => {
  it('waitOnline() resolves when a reservation comes', async () => {
    const { c, keeper, reserve } = await startKeeper()
    const waiting = keeper.waitOnline({ timeout: 5_000 })
    answer(c)
    reserve(0)
    await clock.flush()
    await expect(waiting).resolves.toBeUndefined()
    await expect(keeper.waitOnline()).resolves.toBeUndefined()
  })

  it('waitOnline() rejects after its timeout with RelayUnreachableError naming each relay and its last error', async () => {
    const { c, keeper } = await startKeeper({}, 2)
    const waiting = keeper.waitOnline({ timeout: 3_000 })
    const failed = expect(waiting).rejects.toMatchObject({ name: 'RelayUnreachableError' })
    for (const d of c.connectionManager.unsettled()) d.fail(new Error('connection refused'))
    await clock.advance(3_000)
    await failed
    const err = await waiting.catch(e => e)
    expect(err.relays).toEqual([
      { address: relayAddress(relays[0]), error: 'connection refused' },
      { address: relayAddress(relays[1]), error: 'connection refused' }
    ])
    expect(err.message).toContain('connection refused')
    expect(keeper.status()[0].error).toBe('connection refused')
  })

  it('waitOnline() rejects with the signal\'s reason, and on stop()', async () => {
    const { keeper } = await startKeeper()
    const controller = new AbortController()
    const aborted = keeper.waitOnline({ signal: controller.signal })
    controller.abort(new Error('page left'))
    await expect(aborted).rejects.toThrow('page left')
    const stopping = keeper.waitOnline()
    await keeper.stop()
    await expect(stopping).rejects.toThrow('stopped')
  })
})

describe('relay keeper: the network comes back', () => {
  it('on `online` (or the page shown again) a relay in backoff is dialed at once, not at the end of its backoff', async () => {
    const page = new EventTarget()
    const { c } = await startKeeper({ pageEvents: page, minBackoff: 10_000, maxBackoff: 60_000 })
    // the network is gone: every dial fails, and the backoff grows
    c.connectionManager.onDial = (dial) => { dial.fail(new Error('ERR_INTERNET_DISCONNECTED')) }
    for (const d of c.connectionManager.unsettled()) d.fail(new Error('ERR_INTERNET_DISCONNECTED'))
    await clock.advance(120_000)
    const before = c.connectionManager.dials.length
    c.connectionManager.onDial = undefined
    await clock.advance(1_000)
    expect(c.connectionManager.dials.length).toBe(before)
    page.dispatchEvent(new Event('online'))
    await clock.flush()
    expect(c.connectionManager.dials.length).toBe(before + 1)
    // and only the relays that need it: a second event while that dial is under way adds none
    page.dispatchEvent(new Event('pageshow'))
    await clock.flush()
    expect(c.connectionManager.dials.length).toBe(before + 1)
  })

  it('stop() removes its page listeners', async () => {
    const page = new EventTarget()
    const added: string[] = []
    const removed: string[] = []
    const add = page.addEventListener.bind(page)
    const remove = page.removeEventListener.bind(page)
    page.addEventListener = (type: string, listener: EventListenerOrEventListenerObject | null) => { added.push(type); add(type, listener) }
    page.removeEventListener = (type: string, listener: EventListenerOrEventListenerObject | null) => { removed.push(type); remove(type, listener) }
    const { keeper } = await startKeeper({ pageEvents: page })
    expect(added.sort()).toEqual(['online', 'pageshow', 'visibilitychange'])
    await keeper.stop()
    expect(removed.sort()).toEqual(added.sort())
  })
})
