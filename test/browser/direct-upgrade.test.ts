/**
 * The direct upgrade with stubbed components in simulated time: a relayed
 * connection between two browsers becomes a direct WebRTC one, with one
 * side dialing first, bounded waits and bounded attempts (each attempt is an
 * RTCPeerConnection, and Chrome allows about 500 per tab).
 */
import { describe, it, expect, beforeAll, afterEach } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { directUpgrade, webrtcAddress, DEFAULT_DIRECT_ATTEMPTS_PER_PEER, DEFAULT_DIRECT_DIAL_TIMEOUT, DEFAULT_DIRECT_GRACE, type DirectUpgrade, type DirectUpgradeInit } from '../../src/browser/direct-upgrade.js'
import { useFakeClock } from '../helpers/clock.js'
import { circuitAddress, fakeComponents, fakeConnection, fakeStream, peerIds, webrtcCircuitAddress, type FakeComponents, type FakeConnection } from '../helpers/components.js'
import type { PeerId, Startable } from '@libp2p/interface'

const clock = useFakeClock()

/** @libp2p/webrtc's signalling protocol: the peer dialing us has an inbound stream of it open on the relayed connection. */
const SIGNALING = '/webrtc-signaling/0.0.1'
const GRACE = DEFAULT_DIRECT_GRACE

let relay: PeerId
/** sorted: ids[0] is the smallest */
let ids: PeerId[]
beforeAll(async () => {
  [relay, ...ids] = await peerIds(5, 30)
  ids.sort((x, y) => x.toString() < y.toString() ? -1 : 1)
})

const running: Array<DirectUpgrade & Startable> = []
afterEach(async () => { for (const s of running.splice(0)) await s.stop() })

async function startUpgrade (self: PeerId, init: DirectUpgradeInit = {}): Promise<{ c: FakeComponents, upgrade: DirectUpgrade & Startable }> {
  const c = fakeComponents(self)
  const upgrade = directUpgrade(init)(c) as DirectUpgrade & Startable
  await upgrade.start()
  running.push(upgrade)
  return { c, upgrade }
}

/** A relayed (limited) connection to `peer` through the relay. */
function relayed (peer: PeerId, streams = [] as ReturnType<typeof fakeStream>[]): FakeConnection {
  return fakeConnection({ remotePeer: peer, remoteAddr: circuitAddress(relay, peer), streams })
}

/** A direct WebRTC connection to `peer` (e.g. the peer's own dial to us arrived). */
function direct (peer: PeerId, state: RTCPeerConnectionState = 'connected'): FakeConnection {
  return fakeConnection({ remotePeer: peer, remoteAddr: multiaddr(`/ip4/127.0.0.1/udp/9/webrtc/p2p/${peer.toString()}`), peerConnectionState: state })
}

describe('direct upgrade: who dials when', () => {
  it('the smaller id dials the peer\'s /p2p-circuit/webrtc address at once, forced, with a timeout', async () => {
    const [self, peer] = ids
    const { c } = await startUpgrade(self)
    c.connectionManager.open(relayed(peer))
    await clock.flush()
    expect(c.connectionManager.dials).toHaveLength(1)
    const dial = c.connectionManager.dials[0]
    expect(dial.address.toString()).toBe(webrtcCircuitAddress(relay, peer).toString())
    expect(dial.options.force).toBe(true)
    expect(dial.options.signal).toBeInstanceOf(AbortSignal)
    // it works: nothing more to do, ever
    dial.succeed()
    await clock.advance(10 * 60_000)
    expect(c.connectionManager.dials).toHaveLength(1)
  })

  it('the larger id dials only after the grace period', async () => {
    const [peer, self] = ids
    const { c } = await startUpgrade(self)
    c.connectionManager.open(relayed(peer))
    await clock.advance(GRACE - 1)
    expect(c.connectionManager.dials).toHaveLength(0)
    await clock.advance(1)
    expect(c.connectionManager.dials.map(d => d.address.toString())).toEqual([webrtcCircuitAddress(relay, peer).toString()])
  })

  it('the larger id does not dial when the peer\'s direct connection arrived within the grace', async () => {
    const [peer, self] = ids
    const { c } = await startUpgrade(self)
    c.connectionManager.open(relayed(peer))
    await clock.advance(GRACE / 4)
    c.connectionManager.open(direct(peer))
    await clock.advance(10 * 60_000)
    expect(c.connectionManager.dials).toHaveLength(0)
  })

  it('does nothing for a connection that is not relayed, or when a usable direct connection is there already', async () => {
    const [self, peer, other] = ids
    const { c } = await startUpgrade(self)
    c.connectionManager.open(fakeConnection({ remotePeer: peer, remoteAddr: multiaddr(`/ip4/127.0.0.1/tcp/9/ws/p2p/${peer.toString()}`) }))
    c.connectionManager.open(direct(other))
    c.connectionManager.open(relayed(other))
    await clock.advance(60_000)
    expect(c.connectionManager.dials).toHaveLength(0)
  })

  it('the larger id does not dial when the relayed connection closed within the grace', async () => {
    const [peer, self] = ids
    const { c } = await startUpgrade(self)
    const conn = c.connectionManager.open(relayed(peer))
    await clock.advance(GRACE / 2)
    c.connectionManager.close(conn)
    await clock.advance(60_000)
    expect(c.connectionManager.dials).toHaveLength(0)
  })
})

describe('direct upgrade: while the peer is dialing us', () => {
  it('holds back while the peer\'s signalling stream is open, but only for a bounded time', async () => {
    const [peer, self] = ids
    const { c } = await startUpgrade(self)
    // the peer's dial to us is under way (and hangs: the @libp2p/webrtc init-channel race)
    c.connectionManager.open(relayed(peer, [fakeStream(SIGNALING, 'inbound')]))
    // the grace, then four more grace periods of holding back
    await clock.advance(5 * GRACE - 1)
    expect(c.connectionManager.dials).toHaveLength(0)
    await clock.advance(1)
    expect(c.connectionManager.dials).toHaveLength(1)
  })

  it('does not dial at all once the peer\'s dial to us gave a direct connection', async () => {
    const [peer, self] = ids
    const { c } = await startUpgrade(self)
    const signalling = fakeStream(SIGNALING, 'inbound')
    c.connectionManager.open(relayed(peer, [signalling]))
    await clock.advance(GRACE + GRACE / 2)
    signalling.status = 'closed'
    c.connectionManager.open(direct(peer))
    await clock.advance(10 * 60_000)
    expect(c.connectionManager.dials).toHaveLength(0)
  })

  it('dials at its next look when the peer\'s dial ended without a direct connection', async () => {
    const [peer, self] = ids
    const { c } = await startUpgrade(self)
    const signalling = fakeStream(SIGNALING, 'inbound')
    c.connectionManager.open(relayed(peer, [signalling]))
    await clock.advance(GRACE + GRACE / 2)
    signalling.status = 'closed'
    await clock.advance(GRACE / 2 - 1)
    expect(c.connectionManager.dials).toHaveLength(0)
    await clock.advance(1)
    expect(c.connectionManager.dials).toHaveLength(1)
  })

  it('an outbound signalling stream (our own dial) is no reason to hold back', async () => {
    const [peer, self] = ids
    const { c } = await startUpgrade(self)
    c.connectionManager.open(relayed(peer, [fakeStream(SIGNALING, 'outbound')]))
    await clock.advance(GRACE)
    expect(c.connectionManager.dials).toHaveLength(1)
  })
})

describe('direct upgrade: a direct connection that is not connected', () => {
  it('does not count as done: the larger id still dials after the grace', async () => {
    const [peer, self] = ids
    const { c } = await startUpgrade(self)
    c.connectionManager.open(relayed(peer))
    // what @libp2p/webrtc 6.0.33 hands the answering side of a failed dial: open, "direct", ICE still connecting
    c.connectionManager.open(direct(peer, 'connecting'))
    await clock.advance(GRACE)
    expect(c.connectionManager.dials).toHaveLength(1)
  })

  it('does not end the attempts of the smaller id either: its retry still comes after a failed dial', async () => {
    const [self, peer] = ids
    const { c } = await startUpgrade(self)
    c.connectionManager.open(relayed(peer))
    await clock.flush()
    c.connectionManager.open(direct(peer, 'failed'))
    c.connectionManager.dials[0].fail(new Error('TimeoutError'))
    await clock.advance(60_000)
    expect(c.connectionManager.dials.length).toBeGreaterThanOrEqual(2)
  })

  it('does not stop a new attempt when a relayed connection opens beside it', async () => {
    const [self, peer] = ids
    const { c } = await startUpgrade(self)
    c.connectionManager.open(direct(peer, 'connecting'))
    c.connectionManager.open(relayed(peer))
    await clock.flush()
    expect(c.connectionManager.dials).toHaveLength(1)
  })
})

describe('direct upgrade: attempts are bounded', () => {
  it('gives up on a peer after attemptsPerPeer failed dials, spaced by backoff', async () => {
    const [self, peer] = ids
    const { c, upgrade } = await startUpgrade(self)
    c.connectionManager.onDial = (dial) => { dial.fail(new Error('ICE failed')) }
    c.connectionManager.open(relayed(peer))
    await clock.advance(10 * 60_000)
    const times = c.connectionManager.dials.map(d => d.at)
    expect(times).toHaveLength(DEFAULT_DIRECT_ATTEMPTS_PER_PEER)
    // backoff from 1 s doubling, jitter in [ceiling/2, ceiling]
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(500)
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(1_000)
    expect(times[3] - times[2]).toBeGreaterThanOrEqual(2_000)
    expect(upgrade.remainingAttempts).toBe(300 - DEFAULT_DIRECT_ATTEMPTS_PER_PEER)
  })

  it('tries again, with a fresh budget, when the relayed connection is made anew', async () => {
    const [self, peer] = ids
    const { c } = await startUpgrade(self, { attemptsPerPeer: 2 })
    c.connectionManager.onDial = (dial) => { dial.fail(new Error('ICE failed')) }
    const first = c.connectionManager.open(relayed(peer))
    await clock.advance(10 * 60_000)
    expect(c.connectionManager.dials).toHaveLength(2)
    c.connectionManager.close(first)
    c.connectionManager.open(relayed(peer))
    await clock.advance(10 * 60_000)
    expect(c.connectionManager.dials).toHaveLength(4)
  })

  it('stops at attemptsTotal over all peers, and says so in remainingAttempts', async () => {
    const [self, p1, p2, p3] = ids
    const { c, upgrade } = await startUpgrade(self, { attemptsTotal: 3 })
    c.connectionManager.onDial = (dial) => { dial.fail(new Error('ICE failed')) }
    c.connectionManager.open(relayed(p1))
    c.connectionManager.open(relayed(p2))
    await clock.advance(10 * 60_000)
    expect(c.connectionManager.dials).toHaveLength(3)
    expect(upgrade.remainingAttempts).toBe(0)
    c.connectionManager.open(relayed(p3))
    await clock.advance(10 * 60_000)
    expect(c.connectionManager.dials).toHaveLength(3)
  })

  it('gives up a dial that hangs after dialTimeout and retries it; lastFailure() says it timed out', async () => {
    const [self, peer] = ids
    const { c, upgrade } = await startUpgrade(self)
    c.connectionManager.open(relayed(peer))
    await clock.flush()
    const hung = c.connectionManager.dials[0]
    await clock.advance(DEFAULT_DIRECT_DIAL_TIMEOUT - 1)
    expect(hung.settled).toBe(false)
    await clock.advance(1)
    expect(hung.options.signal?.aborted).toBe(true)
    expect(hung.settled).toBe(true)
    expect(upgrade.lastFailure(peer)).toMatchObject({ reason: 'timeout', attempts: 1, retrying: true })
    // backoff from 1 s: the retry comes within a second
    await clock.advance(1_000)
    expect(c.connectionManager.dials).toHaveLength(2)
  })

  // The per-peer budget used to start over each time a direct connection closed, on the same relayed
  // connection: a peer whose direct connections keep dropping cost one RTCPeerConnection per drop.
  it('a direct connection that keeps dropping gets no more than attemptsPerPeer dials on one relayed connection', async () => {
    const [self, peer] = ids
    const { c } = await startUpgrade(self, { attemptsPerPeer: 4 })
    c.connectionManager.open(relayed(peer))
    for (let i = 0; i < 10; i++) {
      await clock.advance(GRACE)
      const dial = c.connectionManager.unsettled()[0]
      if (dial == null) break
      const conn = dial.succeed()
      // up for a few seconds, then gone (a NAT dropping the UDP mapping, say)
      await clock.advance(5_000)
      c.connectionManager.close(conn)
    }
    expect(c.connectionManager.dials.length).toBeLessThanOrEqual(4)
  })
})

describe('direct upgrade: after a direct connection closes', () => {
  it('tries again when a relayed connection is left (the smaller id at once)', async () => {
    const [self, peer] = ids
    const { c } = await startUpgrade(self)
    c.connectionManager.open(relayed(peer))
    await clock.flush()
    const conn = c.connectionManager.dials[0].succeed()
    await clock.advance(60_000)
    c.connectionManager.close(conn)
    await clock.flush()
    expect(c.connectionManager.dials).toHaveLength(2)
    expect(c.connectionManager.dials[1].address.toString()).toBe(webrtcCircuitAddress(relay, peer).toString())
  })

  it('tries again when a relayed connection is left (the larger id after the grace)', async () => {
    const [peer, self] = ids
    const { c } = await startUpgrade(self)
    c.connectionManager.open(relayed(peer))
    const conn = c.connectionManager.open(direct(peer))
    await clock.advance(60_000)
    c.connectionManager.close(conn)
    await clock.advance(GRACE - 1)
    expect(c.connectionManager.dials).toHaveLength(0)
    await clock.advance(1)
    expect(c.connectionManager.dials).toHaveLength(1)
  })

  it('does not try when no relayed connection is left', async () => {
    const [self, peer] = ids
    const { c } = await startUpgrade(self)
    const rel = c.connectionManager.open(relayed(peer))
    await clock.flush()
    const conn = c.connectionManager.dials[0].succeed()
    c.connectionManager.close(rel)
    c.connectionManager.close(conn)
    await clock.advance(60_000)
    expect(c.connectionManager.dials).toHaveLength(1)
  })
})

describe('direct upgrade: stop()', () => {
  it('leaves no timers and no listeners, aborts a dial in flight and dials no more', async () => {
    const [self, peer, other] = [ids[1], ids[0], ids[2]]
    const { c, upgrade } = await startUpgrade(self)
    c.connectionManager.open(relayed(peer)) // we are larger: a grace timer
    c.connectionManager.open(relayed(other)) // we are smaller: a dial in flight
    await clock.flush()
    const inFlight = c.connectionManager.unsettled()
    expect(inFlight).toHaveLength(1)
    expect(clock.pending()).toBeGreaterThan(0)
    await upgrade.stop()
    await clock.flush()
    expect(inFlight[0].options.signal?.aborted).toBe(true)
    expect(clock.pending()).toBe(0)
    expect(c.events.listenerTotal()).toBe(0)
    c.connectionManager.open(relayed(ids[3]))
    await clock.advance(60_000)
    expect(c.connectionManager.dials).toHaveLength(1)
  })
})

describe('webrtcAddress', () => {
  it('turns a relayed address into the peer\'s WebRTC address through the same relay', async () => {
    const [peer] = ids
    expect(webrtcAddress(circuitAddress(relay, peer))?.toString()).toBe(webrtcCircuitAddress(relay, peer).toString())
  })

  it('has nothing for an address that is not a circuit, or already WebRTC', async () => {
    const [peer] = ids
    expect(webrtcAddress(multiaddr(`/ip4/127.0.0.1/tcp/1/p2p/${peer.toString()}`))).toBeUndefined()
    expect(webrtcAddress(webrtcCircuitAddress(relay, peer))).toBeUndefined()
  })
})
