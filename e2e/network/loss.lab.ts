/**
 * Random packet loss on both home links (each router drops a packet with
 * probability p in each direction, so about 2p end to end): confirmed
 * delivery stays exactly once and in order; first-message time and throughput
 * are recorded.
 */
import { STUN_SERVERS } from './services.js'
import { runPairCase, test, expect } from './scenario.js'

for (const [loss, quick] of [[0.02, true], [0.10, false]] as const) {
  const pct = `${Math.round(loss * 100)} %`
  test(`${quick ? '@quick ' : ''}${pct} loss on both home links (EIM NATs, STUN): direct, confirmed exactly once both ways`, async ({ homes, record }) => {
    const r = await runPairCase(homes, {
      name: `${pct} loss ×2 links, EIM NAT, STUN`,
      homeA: { nat: 'eim', loss },
      homeB: { nat: 'eim', loss },
      iceServers: STUN_SERVERS,
      expectRoute: 'direct srflx',
      routeWithin: 30_000,
      bulk: { count: 2000, size: 1024 },
      back: 300,
      transferWithin: 90_000
    })
    record(r.figures)
    expect([r.routeA, r.routeB]).toEqual(['direct srflx', 'direct srflx'])
    expect(r.figures.peerLeaves).toBe(0)
  })
}
