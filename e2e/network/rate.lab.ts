/**
 * A slow uplink (1 Mbit/s, tc tbf on home A's link): a bulk transfer from A
 * fills it for ~15 s while both sides keep pinging and B keeps sending small
 * messages. Nothing healthy may be torn down: no peer:leave, no lost
 * reservation; every message once, in order.
 */
import { STUN_SERVERS } from './services.js'
import { knownDefect, runPairCase, health, test, expect } from './scenario.js'
import { sleep, type HomeTab } from './fixtures.js'

/** A's ping round trip to the relay over its WebSocket, and what the browser buffers there: 3 s into the bulk transfer, and 5 s after that answer. */
async function relayRtt (a: HomeTab): Promise<string> {
  const out: string[] = []
  for (const at of [3_000, 5_000]) {
    await sleep(at)
    const links = await a.page.evaluate(async () => await window.harness.relayLinks(12_000))
    out.push(links.map(l => `${l.rttMs != null ? `${l.rttMs} ms` : l.error ?? '?'} (ws buffered ${Math.round((l.bufferedAmount ?? 0) / 1024)} KiB)`).join(', '))
  }
  return `A's relay ping during the bulk: ${out.join(' then ')}`
}

for (const webrtc of [true, false]) {
  test(`1 Mbit/s uplink at A, ${webrtc ? 'direct WebRTC' : 'relayed only (webrtc: false)'}: a 2 MiB transfer tears down nothing; exactly once`, async ({ homes, record }) => {
    const r = await runPairCase(homes, {
      name: `1 Mbit/s uplink A, ${webrtc ? 'direct' : 'relayed only'}`,
      homeA: { nat: 'eim', uplink: '1mbit' },
      homeB: { nat: 'eim' },
      iceServers: STUN_SERVERS,
      webrtc,
      expectRoute: webrtc ? 'direct srflx' : 'relayed',
      routeWithin: webrtc ? 20_000 : 2_000,
      bulk: { count: 2048, size: 1024 },
      back: 300,
      transferWithin: 90_000,
      duringBulk: async (a) => await relayRtt(a)
    })
    record(r.figures)
    const h = await health([r.a, r.b])
    expect(h.drops).toBe(0)
    expect([r.routeA, r.routeB]).toEqual(webrtc ? ['direct srflx', 'direct srflx'] : ['relayed', 'relayed'])
    const healthy = (): void => { expect({ leaves: h.leaves, reservationsLost: h.reservationsLost }).toEqual({ leaves: 0, reservationsLost: 0 }) }
    if (webrtc) healthy()
    else await knownDefect('D2', 'a relayed transfer over a slow uplink queues seconds of data ahead of the pings, and the connection monitor tears down the healthy circuit and relay connection', healthy)
  })
}

test('1 Mbit/s uplink at A, relayed only, the browsers\' ping timeout raised to 60 s (where D2 comes from): exactly once; figures', async ({ homes, record }) => {
  const r = await runPairCase(homes, {
    name: '1 Mbit/s uplink A, relayed only, ping timeout 60 s',
    homeA: { nat: 'eim', uplink: '1mbit' },
    homeB: { nat: 'eim' },
    iceServers: STUN_SERVERS,
    webrtc: false,
    start: { pingTimeout: 60_000 },
    expectRoute: 'relayed',
    routeWithin: 2_000,
    bulk: { count: 2048, size: 1024 },
    back: 300,
    transferWithin: 90_000,
    duringBulk: async (a) => await relayRtt(a)
  })
  record(r.figures)
  expect([r.routeA, r.routeB]).toEqual(['relayed', 'relayed'])
})
