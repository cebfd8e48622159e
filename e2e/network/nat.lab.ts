/**
 * NAT traversal: both homes behind endpoint-independent NATs (STUN suffices),
 * and behind endpoint-dependent ("symmetric") NATs with and without TURN.
 */
import { STUN_SERVERS, TURN_SERVERS } from './services.js'
import { runPairCase, test, expect, health } from './scenario.js'

const bulk = { count: 2000, size: 1024 }

test('@quick endpoint-independent NATs, STUN: direct WebRTC on server-reflexive candidates; confirmed, exactly once both ways', async ({ homes, record }) => {
  const r = await runPairCase(homes, {
    name: 'EIM NAT ×2, STUN',
    homeA: { nat: 'eim' },
    homeB: { nat: 'eim' },
    iceServers: STUN_SERVERS,
    expectRoute: 'direct srflx',
    routeWithin: 20_000,
    bulk,
    back: 300,
    transferWithin: 60_000
  })
  record(r.figures)
  expect([r.routeA, r.routeB]).toEqual(['direct srflx', 'direct srflx'])
  expect(r.figures.peerLeaves).toBe(0)
})

test('symmetric NATs, TURN configured: direct WebRTC through TURN relay candidates; confirmed, exactly once both ways', async ({ homes, record }) => {
  const r = await runPairCase(homes, {
    name: 'symmetric NAT ×2, TURN',
    homeA: { nat: 'symmetric' },
    homeB: { nat: 'symmetric' },
    iceServers: TURN_SERVERS,
    expectRoute: 'direct TURN',
    routeWithin: 20_000,
    bulk,
    back: 300,
    transferWithin: 60_000
  })
  record(r.figures)
  expect([r.routeA, r.routeB]).toEqual(['direct TURN', 'direct TURN'])
  expect(r.figures.peerLeaves).toBe(0)
})

test('symmetric NATs, STUN only: direct attempts fail, messages flow over the relayed circuit both ways, exactly once', async ({ homes, record }) => {
  const r = await runPairCase(homes, {
    name: 'symmetric NAT ×2, STUN only',
    homeA: { nat: 'symmetric' },
    homeB: { nat: 'symmetric' },
    iceServers: STUN_SERVERS,
    expectRoute: 'relayed',
    // long enough for the SDK's direct attempts (6 s each, with backoff) to play out
    routeWithin: 20_000,
    bulk: { count: 1000, size: 1024 },
    back: 300,
    transferWithin: 60_000
  })
  record(r.figures)
  expect([r.routeA, r.routeB]).toEqual(['relayed', 'relayed'])
  // the messenger reports what it uses
  for (const [t, other] of [[r.a, r.b], [r.b, r.a]] as const) {
    expect(await t.page.evaluate((p) => window.harness.connectionKind(p), other.id)).toBe('relayed')
  }
  expect((await health([r.a, r.b])).leaves).toBe(0)
})
