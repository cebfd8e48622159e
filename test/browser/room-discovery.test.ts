/**
 * Room discovery with stubbed components in simulated time: the real
 * pubsub-peer-discovery instance (never started, so its own 10 s timer stays
 * out of the way) on a fake pubsub. What a user relies on: peers in a room
 * find each other quickly (extra announcements when they are useful, never
 * when they cannot be), and discovered peers are dialed through the relay
 * with backoff and a cap.
 */
import { describe, it, expect, beforeAll, afterEach } from 'vitest'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { roomDiscovery, type RoomDiscovery, type RoomDiscoveryInit } from '../../src/browser/room-discovery.js'
import { roomTopic } from '../../src/browser/rooms.js'
import { useFakeClock } from '../helpers/clock.js'
import { circuitAddress, fakeComponents, fakeConnection, peerIds, webrtcCircuitAddress, type FakeComponents } from '../helpers/components.js'
import type { PeerId, Startable } from '@libp2p/interface'
import type { PubSubPeerDiscovery } from '@libp2p/pubsub-peer-discovery'

const clock = useFakeClock()

/** The shortest gap between two extra announcements (MIN_ANNOUNCE_GAP in room-discovery.ts). */
const GAP = 300

let self: PeerId
let relay: PeerId
let others: PeerId[]
beforeAll(async () => { [self, relay, ...others] = await peerIds(8, 50) })

const running: Array<RoomDiscovery & Startable> = []
afterEach(async () => { for (const r of running.splice(0)) await r.stop() })

interface Setup {
  c: FakeComponents
  room: RoomDiscovery & Startable
  discovery: PubSubPeerDiscovery
  /** what was published on the room topic, i.e. our announcements */
  announcements(): Array<{ data: Uint8Array, at: number }>
  /** pubsub-peer-discovery heard `peer` announce these addresses */
  hear(peer: PeerId, addrs?: Multiaddr[]): void
  /** we got a reservation: the address manager lists our circuit address and says so */
  reserve(): void
  /** someone (the relay, following the room) subscribes to the room topic */
  listener(peer?: PeerId): void
}

async function startRoom (init: Partial<RoomDiscoveryInit> = {}): Promise<Setup> {
  const c = fakeComponents(self)
  const parts = roomDiscovery({ room: 'lobby', ...init })
  const discovery = parts.discovery({ peerId: self, pubsub: c.pubsub as any, addressManager: c.addressManager as any, logger: c.logger }) as PubSubPeerDiscovery
  const room = parts.service(c) as RoomDiscovery & Startable
  await room.start()
  await room.afterStart?.()
  running.push(room)
  return {
    c,
    room,
    discovery,
    announcements: () => c.pubsub.published.filter(p => p.topic === roomTopic('lobby')),
    hear: (peer, addrs = [circuitAddress(relay, peer)]) => {
      discovery.dispatchEvent(new CustomEvent('peer', { detail: { id: peer, multiaddrs: addrs } }))
    },
    reserve: () => {
      c.addressManager.set('/ip4/127.0.0.1/tcp/9/ws', circuitAddress(relay, self))
      c.events.selfUpdate()
    },
    listener: (peer = relay) => { c.pubsub.change(peer, roomTopic('lobby')) }
  }
}

function contains (data: Uint8Array, part: Uint8Array): boolean {
  for (let i = 0; i + part.length <= data.length; i++) {
    if (part.every((byte, j) => data[i + j] === byte)) return true
  }
  return false
}

describe('room discovery: announcements', () => {
  it('announces as soon as a relay address appears, with that address, and not before', async () => {
    const s = await startRoom()
    s.listener()
    await clock.advance(60_000)
    expect(s.announcements()).toHaveLength(0)
    s.reserve()
    await clock.flush()
    expect(s.announcements()).toHaveLength(1)
    expect(contains(s.announcements()[0].data, circuitAddress(relay, self).bytes)).toBe(true)
  })

  it('announces when the reservation is up, on transport:listening too', async () => {
    const s = await startRoom()
    s.listener()
    s.c.addressManager.set(circuitAddress(relay, self))
    s.c.events.listening()
    await clock.flush()
    expect(s.announcements()).toHaveLength(1)
  })

  it('announces when someone subscribes to the room, not for another topic or a leave', async () => {
    const s = await startRoom()
    s.c.addressManager.set(circuitAddress(relay, self))
    await clock.advance(60_000)
    expect(s.announcements()).toHaveLength(0) // nobody to tell
    s.c.pubsub.change(others[0], roomTopic('elsewhere'))
    await clock.advance(1_000)
    expect(s.announcements()).toHaveLength(0)
    s.listener()
    await clock.flush()
    expect(s.announcements()).toHaveLength(1)
    await clock.advance(1_000)
    s.c.pubsub.change(relay, roomTopic('lobby'), false)
    s.c.pubsub.change(others[1], roomTopic('lobby'), false)
    await clock.advance(1_000)
    expect(s.announcements()).toHaveLength(1)
  })

  it('answers a newcomer at once, and only the first time it is heard', async () => {
    const s = await startRoom()
    s.listener()
    s.reserve()
    await clock.advance(1_000)
    expect(s.announcements()).toHaveLength(1)
    s.hear(others[0])
    await clock.flush()
    expect(s.announcements()).toHaveLength(2)
    await clock.advance(1_000)
    s.hear(others[0])
    await clock.advance(1_000)
    expect(s.announcements()).toHaveLength(2)
    s.hear(others[1])
    await clock.flush()
    expect(s.announcements()).toHaveLength(3)
  })

  it('rate-limits: a burst of newcomers gives one announcement now and then at most one per 300 ms', async () => {
    const s = await startRoom()
    s.listener()
    s.reserve()
    await clock.advance(1_000)
    const before = s.announcements().length
    const crowd = await peerIds(50, 100)
    const start = clock.now()
    for (const peer of crowd) {
      s.hear(peer)
      await clock.advance(20)
    }
    await clock.advance(1_000)
    const burst = s.announcements().slice(before)
    // 1 s of newcomers, then quiet: one at once, then one per gap, and a last one for the tail
    expect(burst[0].at).toBe(start)
    expect(burst.length).toBeGreaterThanOrEqual(2)
    expect(burst.length).toBeLessThanOrEqual(Math.ceil(1_000 / GAP) + 2)
    for (let i = 1; i < burst.length; i++) expect(burst[i].at - burst[i - 1].at).toBeGreaterThanOrEqual(GAP)
  })

  it('says nothing while there is no circuit address, or nobody subscribed, whatever happens', async () => {
    const s = await startRoom()
    // a listener but no circuit address (only a WebRTC one through the relay, which is no plain circuit)
    s.listener()
    s.c.addressManager.set('/ip4/127.0.0.1/tcp/9/ws', webrtcCircuitAddress(relay, self))
    s.c.events.selfUpdate()
    s.hear(others[0])
    s.room.announceSoon()
    await clock.advance(60_000)
    expect(s.announcements()).toHaveLength(0)
    // a circuit address but the listener left
    s.c.pubsub.change(relay, roomTopic('lobby'), false)
    s.reserve()
    s.hear(others[1])
    s.room.announceSoon()
    await clock.advance(60_000)
    expect(s.announcements()).toHaveLength(0)
  })
})

describe('room discovery: dialing discovered peers', () => {
  it('dials a discovered peer through its plain circuit address', async () => {
    const s = await startRoom()
    const peer = others[0]
    s.hear(peer, [multiaddr(`/ip4/10.0.0.2/tcp/1/ws/p2p/${peer.toString()}`), webrtcCircuitAddress(relay, peer), circuitAddress(relay, peer)])
    await clock.flush()
    expect(s.c.connectionManager.dials.map(d => d.address.toString())).toEqual([circuitAddress(relay, peer).toString()])
    expect(s.c.connectionManager.dials[0].options.signal).toBeInstanceOf(AbortSignal)
  })

  it('does not dial itself, a peer without a circuit address, or a peer it is connected to', async () => {
    const s = await startRoom()
    s.hear(self)
    s.hear(others[0], [multiaddr(`/ip4/10.0.0.2/tcp/1/ws/p2p/${others[0].toString()}`)])
    s.c.connectionManager.open(fakeConnection({ remotePeer: others[1], remoteAddr: circuitAddress(relay, others[1]) }))
    s.hear(others[1])
    await clock.advance(60_000)
    expect(s.c.connectionManager.dials).toHaveLength(0)
  })

  it('does not dial a peer again while its dial is in flight', async () => {
    const s = await startRoom()
    s.hear(others[0])
    s.hear(others[0])
    await clock.advance(5_000)
    s.hear(others[0])
    expect(s.c.connectionManager.dials).toHaveLength(1)
  })

  it('retries a failing dial with backoff, four dials in all, then waits for the peer\'s next announcement', async () => {
    const s = await startRoom()
    s.c.connectionManager.onDial = (dial) => { dial.fail(new Error('NO_RESERVATION')) }
    s.hear(others[0])
    await clock.advance(5 * 60_000)
    const times = s.c.connectionManager.dials.map(d => d.at)
    expect(times).toHaveLength(4)
    // backoff from 1 s doubling, jitter in [ceiling/2, ceiling]
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(500)
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(1_000)
    expect(times[3] - times[2]).toBeGreaterThanOrEqual(2_000)
    s.hear(others[0])
    await clock.flush()
    expect(s.c.connectionManager.dials).toHaveLength(5)
  })

  it('gives up a dial that hangs after 10 s and retries it', async () => {
    const s = await startRoom()
    s.hear(others[0])
    const hung = s.c.connectionManager.dials[0]
    await clock.advance(9_999)
    expect(hung.settled).toBe(false)
    await clock.advance(1)
    expect(hung.options.signal?.aborted).toBe(true)
    await clock.advance(1_000)
    expect(s.c.connectionManager.dials).toHaveLength(2)
  })

  it('dials at most maxPeers peers at a time', async () => {
    const s = await startRoom({ maxPeers: 2 })
    for (const peer of others.slice(0, 4)) s.hear(peer)
    await clock.advance(5_000)
    expect(s.c.connectionManager.dials).toHaveLength(2)
    // one dial done: a peer heard again now gets its turn
    s.c.connectionManager.dials[0].succeed()
    await clock.flush()
    s.hear(others[2])
    await clock.flush()
    expect(s.c.connectionManager.dials.map(d => d.address.toString())).toContain(circuitAddress(relay, others[2]).toString())
  })
})

describe('room discovery: stop()', () => {
  it('leaves no timers and no listeners, aborts a dial in flight, and neither announces nor dials afterwards', async () => {
    const s = await startRoom()
    s.listener()
    s.reserve()
    await clock.flush()
    s.c.connectionManager.onDial = (dial) => { if (dial.address.toString().includes(others[1].toString())) dial.fail(new Error('refused')) }
    s.hear(others[0]) // a dial in flight (and an announcement, rate-limited: a timer)
    s.hear(others[1]) // a failed dial: a backoff timer
    await clock.advance(10)
    const inFlight = s.c.connectionManager.unsettled()
    expect(inFlight).toHaveLength(1)
    expect(clock.pending()).toBeGreaterThan(0)
    const announced = s.announcements().length
    await s.room.stop()
    await clock.flush()
    expect(inFlight[0].options.signal?.aborted).toBe(true)
    expect(clock.pending()).toBe(0)
    expect(s.c.events.listenerTotal()).toBe(0)
    expect(s.c.pubsub.listenerTotal()).toBe(0)
    expect(s.discovery.listenerCount('peer')).toBe(0)
    const dials = s.c.connectionManager.dials.length
    s.reserve()
    s.listener(others[3])
    s.hear(others[2])
    s.room.announceSoon()
    await clock.advance(60_000)
    expect(s.announcements()).toHaveLength(announced)
    expect(s.c.connectionManager.dials).toHaveLength(dials)
  })
})
