/**
 * A home network drops for 20 s and returns, in the middle of a confirmed
 * exchange both ways (20 messages/s each way, 50 s): the tabs reconnect and
 * resume, and nothing is lost, duplicated or reordered.
 * - ISP outage: home A's router drops everything; the browser sees no change.
 * - Wi-Fi drop: home A's own interface goes down (the browser sees it go).
 */
import * as lab from './lab.js'
import { STUN_SERVERS } from './services.js'
import { test, expect, accounting, room, routeOf, sleep, tallyOf, waitForDirect, waitForTally, readTrace, summarizeTrace } from './fixtures.js'
import { expectExactlyOnce, health, sentDrained } from './scenario.js'

const OUTAGE = 20_000
const N = 1000 // each way: 5 every 250 ms = 50 s

for (const kind of ['ISP outage', 'Wi-Fi drop'] as const) {
  test(`${kind}: home A offline for 20 s mid-transfer (EIM NATs, direct, confirmed): reconnects, resumes, every message once in order`, async ({ homes, record }) => {
    test.setTimeout(180_000)
    lab.configure('a', { nat: 'eim' })
    lab.configure('b', { nat: 'eim' })
    const [a, b] = await homes.pair({ room: room('outage'), iceServers: STUN_SERVERS })
    const t0 = Math.min(a.startCalledAt, b.startCalledAt)
    await a.page.evaluate((id) => window.harness.send(id, 'first-', 1), b.id)
    const first = await waitForTally(b, a.id, 'first-', 1, 30_000)
    expect(await waitForDirect(a, b.id, 20_000)).toBe('direct srflx')

    const sending = Promise.all([
      a.page.evaluate(async (id) => { await window.harness.sendPaced(id, 'a-', 1000, 5, 250) }, b.id),
      b.page.evaluate(async (id) => { await window.harness.sendPaced(id, 'b-', 1000, 5, 250) }, a.id)
    ])
    await sleep(10_000)
    const cutAt = Date.now()
    if (kind === 'ISP outage') lab.outage('a', true)
    else lab.homeLink('a', false)
    let restoredAt = 0
    try {
      await sleep(OUTAGE)
    } finally {
      if (kind === 'ISP outage') lab.outage('a', false)
      else lab.homeLink('a', true)
      restoredAt = Date.now()
    }
    await sending
    await waitForTally(b, a.id, 'a-', N, 60_000).catch(() => {})
    await waitForTally(a, b.id, 'b-', N, 60_000).catch(() => {})
    await sentDrained(a, 30_000)
    await sentDrained(b, 30_000)
    await sleep(1_000)
    const ab = await tallyOf(b, a.id, 'a-')
    const ba = await tallyOf(a, b.id, 'b-')
    const h = await health([a, b])
    const routeAfter = (await waitForDirect(a, b.id, 15_000)) ?? (await routeOf(a, b.id)).route
    const reserved = await Promise.all([a, b].map(async t => await t.page.evaluate(() => window.harness.reserved())))
    const leavesAt = await b.page.evaluate(() => window.harness.leaves().map(l => l.at))
    const accAB = accounting(ab, N)
    const accBA = accounting(ba, N)
    const resumeAB = ab != null && ab.maxGapEnd > restoredAt ? ab.maxGapEnd - restoredAt : undefined
    const resumeBA = ba != null && ba.maxGapEnd > restoredAt ? ba.maxGapEnd - restoredAt : undefined
    const traces = [...summarizeTrace(await readTrace(a.page)).map(l => `A ${l}`), ...summarizeTrace(await readTrace(b.page)).map(l => `B ${l}`)]
    console.info(`[${kind}] rtc:\n  ${traces.join('\n  ')}\n  errors: ${h.errors.join('\n          ')}`)
    record({
      case: `${kind} 20 s at A, EIM NAT, direct`,
      path: `direct srflx → ${routeAfter} after`,
      firstMessageMs: first.firstAt - t0,
      sent: 2 * N,
      received: accAB.received + accBA.received,
      lost: accAB.lost + accBA.lost,
      duplicated: accAB.duplicated + accBA.duplicated,
      outOfOrder: accAB.outOfOrder + accBA.outOfOrder,
      peerLeaves: h.leaves,
      errors: h.errors.length,
      notes: `longest gap A→B ${ab?.maxGapMs} ms, B→A ${ba?.maxGapMs} ms; resumed ${resumeAB ?? '–'} / ${resumeBA ?? '–'} ms after the network returned; B saw A leave ${leavesAt.map(t => `${((t - cutAt) / 1000).toFixed(1)} s`).join(', ')} after the cut; reservations lost ${h.reservationsLost}, held at end ${reserved.join('/')}`
    })
    expectExactlyOnce(ab, N, 'A → B')
    expectExactlyOnce(ba, N, 'B → A')
    expect(reserved).toEqual([true, true])
    // messaging resumed within 20 s of the network's return (seen: 4.4-10.3 s; the relay
    // keeper's 5 s check interval, 5 s dial timeout and backoff set it)
    expect(resumeAB ?? 0).toBeLessThan(20_000)
    expect(resumeBA ?? 0).toBeLessThan(20_000)
  })
}
