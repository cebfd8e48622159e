/**
 * Load and soak: ten tabs in one room broadcast at a steady rate for
 * SOAK_SECONDS (30 in `npm test`; `npm run soak` runs 300). Every tab must
 * take every other tab's messages exactly once, in order, while its
 * RTCPeerConnections, open RTCDataChannels and JS heap stay within fixed
 * bounds. Prints a summary line with the figures (README: Reliability and security).
 *
 * SOAK_DEBUG=1 adds diagnostics: peers found over time, connections refused by
 * libp2p's connection manager, and every tab's connections at the end.
 */
import { test, expect, allConnected, instrumentRTC, type Tab } from './fixtures.js'

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 30)
const TABS = 10
const PEERS = TABS - 1
/**
 * One broadcast per tab per second (10 tabs x 9 peers = 90 deliveries per second). At two
 * per second ten tabs keep both cores of a CI machine busy; SOAK_INTERVAL_MS=500 tries that.
 */
const EVERY_MS = Number(process.env.SOAK_INTERVAL_MS ?? 1000)
const PER_TAB = Math.round(SOAK_SECONDS * 1000 / EVERY_MS)
/** the heap baseline is taken this far into the run (after warm-up: JIT, buffers, late direct upgrades) */
const WARMUP_SECONDS = Math.min(30, Math.max(10, SOAK_SECONDS / 5), SOAK_SECONDS / 2)
const SAMPLE_MS = 5_000
/** heap figures (each after a full GC) every this many samples */
const HEAP_EVERY = 6

// Bounds, per tab; the figures measured are in the README (Reliability and security).
/**
 * Live RTCPeerConnections: one direct connection per peer, and at most one more per peer
 * while the two sides' direct-upgrade dials overlap (each side dials at most one at a
 * time; js-libp2p keeps both connections when both succeed).
 */
const MAX_PCS = 2 * PEERS
/**
 * Open data channels (one per libp2p stream): per peer our messenger stream and
 * theirs, gossipsub's two, and short-lived ping / identify streams.
 */
const MAX_DCS = 8 * PEERS
/** The heap at the end (after a full GC) may exceed the figure after warm-up by at most this. */
const HEAP_MARGIN = 4 * 1024 * 1024

// precise heap figures and a real full GC before each (this file only)
test.use({
  launchOptions: [async ({ launchOptions }, use) => {
    await use({ ...launchOptions, args: [...(launchOptions.args ?? []), '--js-flags=--expose-gc', '--enable-precise-memory-info'] })
  }, { scope: 'worker' }]
})

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const mib = (n: number): string => (n / 1024 / 1024).toFixed(1)
const secs = (ms: number): string => (ms / 1000).toFixed(1)

interface Sample { at: number, pcs: number, dcs: number, heap?: number }

test(`ten tabs in one room broadcast for ${SOAK_SECONDS} s: nothing lost or duplicated; connections, channels and heap bounded`, async ({ openTab, context }) => {
  test.setTimeout((SOAK_SECONDS + 180) * 1000)
  const debug = process.env.SOAK_DEBUG != null
  await instrumentRTC(context)
  const refused: string[] = []
  if (debug) {
    await context.addInitScript(() => { localStorage.setItem('debug', 'libp2p:connection-manager,libp2p:connection-monitor*') })
    context.on('console', (m) => { const t = m.text(); if (t.includes('refused') || t.includes('aborting') || t.includes('heartbeat')) refused.push(t.replace(/%c/g, '').slice(0, 240)) })
  }
  const t0 = Date.now()
  // one after another, as people open tabs (all ten at once on two cores stalls the pages long
  // enough for pings to time out)
  const tabs: Tab[] = []
  for (let i = 0; i < TABS; i++) tabs.push(await openTab({ room: 'soak', tally: true }))
  const opened = Date.now()
  // heap figures are taken after a full GC (launch flags above)
  expect(await tabs[0].page.evaluate(() => typeof globalThis.gc)).toBe('function')
  if (debug) {
    while (Date.now() - opened < 90_000) {
      const counts = await Promise.all(tabs.map(async t => await t.page.evaluate(() => window.harness.peers().length)))
      const leaves = await Promise.all(tabs.map(async t => await t.page.evaluate(() => window.harness.leaves().length)))
      console.info(`  +${secs(Date.now() - opened)} s peers found per tab: ${counts.join(' ')}; peer:leave events ${leaves.join(' ')}; log lines ${refused.length}`)
      if (counts.every(c => c === PEERS)) break
      await sleep(1000)
    }
  }
  try {
    await allConnected(tabs, 90_000)
  } catch (err) {
    if (debug) {
      for (const [i, t] of tabs.entries()) {
        const missing = await t.page.evaluate((ids) => ids.filter(id => !window.harness.peers().includes(id)), tabs.filter(o => o !== t).map(o => o.id))
        for (const id of missing) {
          const conns = (await t.page.evaluate(() => window.harness.connections())).filter(c => c.peer === id)
          const info = await t.page.evaluate(async (p) => await window.harness.peerInfo(p), id)
          console.info(`  tab ${i} misses tab ${tabs.findIndex(x => x.id === id)}: connections ${JSON.stringify(conns.map(c => ({ direct: c.direct, limited: c.limited, streams: c.streams })))}; protocols ${JSON.stringify(info?.protocols)}; addresses ${info?.addresses.length}`)
        }
      }
    }
    throw err
  }
  const connected = Date.now()
  // let direct connections form before the clock starts (not required: relayed ones carry messages too)
  const directPeers = async (t: Tab): Promise<number> =>
    await t.page.evaluate((ids) => ids.filter(id => window.harness.connectionKind(id) === 'direct').length, tabs.filter(o => o !== t).map(o => o.id))
  const directPairs = async (): Promise<number> => (await Promise.all(tabs.map(directPeers))).reduce((a, b) => a + b, 0)
  const allPairs = TABS * PEERS
  while (await directPairs() < allPairs && Date.now() - connected < 10_000) await sleep(1000)
  const directAtStart = await directPairs()
  const leaves = async (): Promise<number> => (await Promise.all(tabs.map(async t => await t.page.evaluate(() => window.harness.leaves().length)))).reduce((a, b) => a + b, 0)
  const leavesAtStart = await leaves()
  console.info(`  ${TABS} tabs open in ${secs(opened - t0)} s; all found each other ${secs(connected - opened)} s later; ` +
    `${directAtStart}/${allPairs} direct ${secs(Date.now() - connected)} s after that; ${leavesAtStart} peer:leave events on the way` + (debug ? `; ${refused.length} inbound connections refused` : ''))
  if (debug && refused.length > 0) {
    const kinds = new Map<string, number>()
    for (const r of refused) { const k = r.replace(/[0-9A-Za-z]{40,}/g, '<id>').replace(/\/tcp\/\d+/g, '').replace(/\+\d+m?s.*$/, '').slice(0, 160); kinds.set(k, (kinds.get(k) ?? 0) + 1) }
    for (const [k, c] of kinds) console.info(`    ${c} x ${k}`)
  }

  const samples: Sample[][] = tabs.map(() => [])
  const sample = async (heap: boolean): Promise<void> => {
    const at = Date.now()
    await Promise.all(tabs.map(async (t, i) => {
      const s = await t.page.evaluate((h) => ({ rtc: window.harness.rtc(), heap: h ? window.harness.heap() : undefined }), heap)
      samples[i].push({ at, pcs: s.rtc?.live ?? NaN, dcs: s.rtc?.dcOpen ?? NaN, heap: s.heap })
    }))
  }
  // main-thread time per tab (CDP Performance.TaskDuration), to show how loaded the machine is
  const cdps = await Promise.all(tabs.map(async t => { const c = await context.newCDPSession(t.page); await c.send('Performance.enable'); return c }))
  const busy = async (): Promise<number[]> => await Promise.all(cdps.map(async c => (await c.send('Performance.getMetrics')).metrics.find(m => m.name === 'TaskDuration')?.value ?? NaN))
  const busyAtStart = await busy()
  const logLinesAtStart = refused.length
  const started = Date.now()
  let sending = true
  let baseline = -1
  const sampler = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- cleared when the sending ends
    while (sending) {
      if (baseline < 0 && Date.now() - started >= WARMUP_SECONDS * 1000) baseline = samples[0].length
      await sample(baseline >= 0 && (samples[0].length - baseline) % HEAP_EVERY === 0)
      await sleep(SAMPLE_MS)
    }
  })()
  const results = await Promise.all(tabs.map(async (t, i) =>
    await t.page.evaluate(([p, n, every]) => window.harness.broadcastPaced(p as string, n as number, every as number), [`s${i}-`, PER_TAB, EVERY_MS] as const)))
  const sendSeconds = (Date.now() - started) / 1000
  const busyShare = (await busy()).map((b, i) => (b - busyAtStart[i]) / sendSeconds)
  if (debug) {
    const during = refused.slice(logLinesAtStart)
    console.info(`  while sending: ${during.filter(l => l.includes('aborting connection due to ping failure')).length} connections aborted after a failed ping, ${during.filter(l => l.includes('TimeoutError')).length} ping timeouts, ${during.filter(l => l.includes('refused')).length} inbound connections refused; peer:leave events ${await leaves() - leavesAtStart}`)
  }
  sending = false
  await sampler
  for (const r of results) {
    expect(r.sent).toBe(PER_TAB)
    // every broadcast reached every other tab
    expect(r.minPeers).toBe(PEERS)
  }

  // every tab takes 9 x PER_TAB messages: from each other tab 0 … PER_TAB-1, once each, in order
  for (const t of tabs) {
    await t.page.waitForFunction((n) => window.harness.tally().reduce((sum, x) => sum + x.count, 0) >= n, PEERS * PER_TAB, { timeout: 60_000, polling: 250 })
  }
  await sleep(1000)
  const byFrom = (a: { from: string }, b: { from: string }): number => a.from < b.from ? -1 : 1
  for (const [i, t] of tabs.entries()) {
    const want = tabs.map((o, j) => ({ from: o.id, prefix: `s${j}-`, count: PER_TAB, next: PER_TAB, bad: 0, samples: [] as string[] })).filter((_, j) => j !== i)
    expect((await t.page.evaluate(() => window.harness.tally())).sort(byFrom)).toEqual(want.sort(byFrom))
    expect(await t.page.evaluate(() => window.harness.drops())).toEqual([])
  }
  await sample(true)
  if (baseline < 0) baseline = samples[0].length - 1

  const perTab = await Promise.all(tabs.map(async (t, i) => {
    const rtc = (await t.page.evaluate(() => window.harness.rtc()))!
    const conns = await t.page.evaluate(() => window.harness.connections())
    const s = samples[i]
    const heaps = s.slice(baseline).map(x => x.heap).filter((h): h is number => h != null)
    const others = new Set(tabs.filter(o => o !== t).map(o => o.id))
    const direct = conns.filter(c => c.direct && others.has(c.peer))
    const relayedOnly = [...others].filter(id => !direct.some(c => c.peer === id)).length
    if (debug) {
      const per: Record<string, string> = {}
      for (const c of conns) per[c.peer] = (per[c.peer] ?? '') + (c.direct ? 'D' : c.limited ? 'L' : 'U')
      console.info(`  tab ${i}: PCs ${JSON.stringify(rtc.states)}; connections ${Object.entries(per).map(([p, k]) => `${tabs.findIndex(x => x.id === p)}:${k}`).join(' ')}`)
    }
    return {
      rtc,
      directConnections: direct.length,
      duplicateDirect: direct.length - new Set(direct.map(c => c.peer)).size,
      relayedOnly,
      heapStart: heaps[0],
      heapEnd: heaps[heaps.length - 1],
      heapMax: Math.max(...heaps),
      maxPcsSampled: Math.max(...s.map(x => x.pcs)),
      errors: await t.page.evaluate(() => window.harness.errors())
    }
  }))
  const max = (f: (x: typeof perTab[number]) => number): number => Math.max(...perTab.map(f))
  const min = (f: (x: typeof perTab[number]) => number): number => Math.min(...perTab.map(f))
  const directAtEnd = await directPairs()
  // no connection was lost under the steady load
  expect(await leaves()).toBe(leavesAtStart)
  const errors = perTab.reduce((n, x) => n + x.errors.length, 0)
  console.info(`soak: ${TABS} tabs x ${SOAK_SECONDS} s (sending took ${sendSeconds.toFixed(0)} s), ${PER_TAB} msgs/tab, ` +
    `${TABS * PEERS * PER_TAB} deliveries, every one exactly once, in order; 0 drops; ${errors} error events; ` +
    `direct pairs ${directAtStart}/${allPairs} at start, ${directAtEnd}/${allPairs} at end; ` +
    `live PCs per tab max ${max(x => x.rtc.maxLive)} (bound ${MAX_PCS}), at end ${min(x => x.rtc.live)}-${max(x => x.rtc.live)} ` +
    `(duplicate direct connections at end: ${perTab.reduce((n, x) => n + x.duplicateDirect, 0)}), created ${min(x => x.rtc.created)}-${max(x => x.rtc.created)}; ` +
    `open DCs per tab max ${max(x => x.rtc.maxDcOpen)} (bound ${MAX_DCS}), at end ${min(x => x.rtc.dcOpen)}-${max(x => x.rtc.dcOpen)}; ` +
    `heap after warm-up (${WARMUP_SECONDS} s) ${mib(min(x => x.heapStart))}-${mib(max(x => x.heapStart))} MiB, ` +
    `at end ${mib(min(x => x.heapEnd))}-${mib(max(x => x.heapEnd))} MiB, largest growth ${mib(max(x => x.heapEnd - x.heapStart))} MiB ` +
    `(margin ${mib(HEAP_MARGIN)}), largest rise at any point ${mib(max(x => x.heapMax - x.heapStart))} MiB; ` +
    `main thread busy ${Math.round(100 * Math.min(...busyShare))}-${Math.round(100 * Math.max(...busyShare))} % per tab while sending`)
  if (SOAK_SECONDS >= 120) {
    // the trend over the run: live PCs, open DCs (sums over tabs) and the largest heap, every minute
    const points = samples[0].map((_, k) => k).filter(k => k % 12 === 0 || k === samples[0].length - 1)
    console.info('  per minute (PCs, DCs summed over tabs; heap max MiB when measured): ' + points.map(k =>
      `${Math.round((samples[0][k].at - started) / 1000)} s: ${samples.reduce((n, s) => n + s[k].pcs, 0)}/${samples.reduce((n, s) => n + s[k].dcs, 0)}` +
      (samples[0][k].heap != null ? `/${mib(Math.max(...samples.map(s => s[k].heap ?? 0)))}` : '')).join(', '))
  }
  for (const x of perTab) {
    if (x.errors.length > 0) console.info(`  errors: ${x.errors.slice(0, 5).join(' | ')}`)
  }
  for (const x of perTab) {
    expect(x.rtc.maxLive).toBeLessThanOrEqual(MAX_PCS)
    // no orphans: every live RTCPeerConnection is a direct connection libp2p knows, or a
    // dial still under way to a peer that is not direct yet
    expect(x.rtc.live).toBeGreaterThanOrEqual(x.directConnections)
    expect(x.rtc.live).toBeLessThanOrEqual(x.directConnections + x.relayedOnly)
    expect(x.rtc.maxDcOpen).toBeLessThanOrEqual(MAX_DCS)
    expect(x.heapEnd - x.heapStart).toBeLessThanOrEqual(HEAP_MARGIN)
  }
})
