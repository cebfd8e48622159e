/**
 * One pair case, the shape most lab cases share: both homes start at once
 * in a fresh room; A's first message to B is timed from the start() calls;
 * the route settles (direct or relayed, as the case expects); then A sends a
 * bulk transfer to B while B sends small messages to A, both in confirmed
 * mode, and every message is accounted for: taken once, in order, none
 * missing, and acknowledged (the sender's queue drains).
 */
import * as lab from './lab.js'
import { failureReason, type RtcTrace } from './rtc-trace.js'
import { test, expect, accounting, padPrefix, room, routeOf, sleep, tallyOf, waitForDirect, waitForTally, readTrace, summarizeTrace, type Figures, type HomeTab, type Homes, type StartOptions, type TallyRow } from './fixtures.js'

export interface PairCase {
  name: string
  homeA: lab.HomeConfig
  homeB: lab.HomeConfig
  iceServers: RTCIceServer[]
  webrtc?: boolean
  /** more start options for both tabs (e.g. the connection monitor's pingTimeout) */
  start?: Partial<StartOptions>
  /** the route both sides must end up on: 'direct srflx', 'direct TURN', 'relayed' */
  expectRoute: string
  /** how long the route may take to settle */
  routeWithin: number
  /** bulk A → B: count × size bytes */
  bulk: { count: number, size: number }
  /** small messages B → A meanwhile */
  back: number
  /** time for the bulk transfer */
  transferWithin: number
  /** runs instead of a plain wait while a relayed route settles (the direct attempts play out); returns a note */
  whileSettling?: (a: HomeTab, b: HomeTab, ms: number) => Promise<string>
  /** runs beside the bulk transfer; returns a note */
  duringBulk?: (a: HomeTab, b: HomeTab) => Promise<string>
}

export interface PairResult {
  a: HomeTab
  b: HomeTab
  figures: Figures
  routeA: string
  routeB: string
}

export async function sentDrained (tab: HomeTab, within: number): Promise<void> {
  await tab.page.waitForFunction(() => window.harness.pending() === 0, undefined, { timeout: within, polling: 200 })
}

export async function health (tabs: HomeTab[]): Promise<{ leaves: number, errors: string[], drops: number, reservationsLost: number }> {
  let leaves = 0
  let drops = 0
  let reservationsLost = 0
  const errors: string[] = []
  for (const t of tabs) {
    const h = await t.page.evaluate(() => ({ leaves: window.harness.leaves().length, errors: window.harness.errors(), drops: window.harness.drops().length, reservations: window.harness.reservations() }))
    leaves += h.leaves
    drops += h.drops
    errors.push(...h.errors.map(e => `${t.home}: ${e}`))
    reservationsLost += h.reservations.filter(r => !r.reserved).length
  }
  return { leaves, errors, drops, reservationsLost }
}

export function expectExactlyOnce (row: TallyRow | undefined, n: number, what: string): void {
  expect(row, `${what}: nothing arrived`).toBeDefined()
  expect({ count: row?.count, next: row?.next, bad: row?.bad, samples: row?.samples }, what).toEqual({ count: n, next: n, bad: 0, samples: [] })
}

/** `4 (1 connected, 3 timeout)`: a page's RTCPeerConnections and how each ended. */
export function attempts (trace: RtcTrace | undefined): string {
  if (trace == null) return '?'
  const out: Record<string, number> = {}
  for (const p of trace.list) {
    const r = failureReason(p) ?? 'connected'
    out[r] = (out[r] ?? 0) + 1
  }
  return `${trace.created}${trace.created > 0 ? ` (${Object.entries(out).map(([k, v]) => `${v} ${k}`).join(', ')})` : ''}`
}

export async function runPairCase (homes: Homes, c: PairCase): Promise<PairResult> {
  lab.configure('a', c.homeA)
  lab.configure('b', c.homeB)
  const opts = { room: room(c.name.replace(/\W+/g, '-').slice(0, 20)), iceServers: c.iceServers, webrtc: c.webrtc, delivery: 'confirmed' as const, tally: true, ...c.start }
  const [a, b] = await homes.pair(opts)
  const t0 = Math.min(a.startCalledAt, b.startCalledAt)
  const notes: string[] = []

  // first message: queued at once (B is not known yet: the room finds it)
  await a.page.evaluate((id) => window.harness.send(id, 'first-', 1), b.id)
  const first = await waitForTally(b, a.id, 'first-', 1, 60_000)
  const firstMessageMs = first.firstAt - t0

  // the route settles
  let routeA = 'none'
  let routeB = 'none'
  if (c.expectRoute.startsWith('direct')) {
    routeA = await waitForDirect(a, b.id, c.routeWithin) ?? (await routeOf(a, b.id)).route
    routeB = await waitForDirect(b, a.id, 5_000) ?? (await routeOf(b, a.id)).route
  } else {
    // give the direct attempts their time: they must fail and leave the relayed circuit in use
    if (c.whileSettling != null) notes.push(await c.whileSettling(a, b, c.routeWithin))
    else await sleep(c.routeWithin)
    routeA = (await routeOf(a, b.id)).route
    routeB = (await routeOf(b, a.id)).route
  }
  const directAt = Date.now() - t0

  // warm up (the first transfer on a fresh connection is slower), then the timed bulk transfer A → B
  const warm = padPrefix('warm', c.bulk.size)
  await a.page.evaluate(([id, p]) => window.harness.send(id, p, 100), [b.id, warm] as const)
  await waitForTally(b, a.id, warm, 100, c.transferWithin)
  const bulk = padPrefix('bulk', c.bulk.size)
  const sendAt = Date.now()
  const during = c.duringBulk?.(a, b)
  await Promise.all([
    a.page.evaluate(([id, p, n]) => window.harness.send(id, p, n as number), [b.id, bulk, c.bulk.count] as const),
    b.page.evaluate(async ([id, n]) => { await window.harness.sendPaced(id, 'back-', n as number, 10, 100) }, [a.id, c.back] as const)
  ])
  let row: TallyRow | undefined
  let back: TallyRow | undefined
  try {
    row = await waitForTally(b, a.id, bulk, c.bulk.count, c.transferWithin)
    back = await waitForTally(a, b.id, 'back-', c.back, 30_000)
    await sentDrained(a, 30_000)
    await sentDrained(b, 30_000)
  } finally {
    row ??= await tallyOf(b, a.id, bulk)
    back ??= await tallyOf(a, b.id, 'back-')
  }
  const seconds = ((row?.lastAt ?? Date.now()) - sendAt) / 1000
  if (during != null) notes.push(await during)
  // a moment for late duplicates to show
  await sleep(1_000)
  row = await tallyOf(b, a.id, bulk)
  back = await tallyOf(a, b.id, 'back-')
  const h = await health([a, b])
  const accBulk = accounting(row, c.bulk.count)
  const accBack = accounting(back, c.back)
  const [traceA, traceB] = [await readTrace(a.page), await readTrace(b.page)]
  const traces = [...summarizeTrace(traceA).map(l => `A ${l}`), ...summarizeTrace(traceB).map(l => `B ${l}`)]
  const figures: Figures = {
    case: c.name,
    path: routeA === routeB ? routeA : `A: ${routeA}, B: ${routeB}`,
    firstMessageMs,
    throughputKiBs: (c.bulk.count * c.bulk.size / 1024) / seconds,
    throughputMsgs: c.bulk.count / seconds,
    sent: c.bulk.count + c.back,
    received: accBulk.received + accBack.received,
    lost: accBulk.lost + accBack.lost,
    duplicated: accBulk.duplicated + accBack.duplicated,
    outOfOrder: accBulk.outOfOrder + accBack.outOfOrder,
    peerLeaves: h.leaves,
    errors: h.errors.length,
    notes: `start ${a.startedAt - a.startCalledAt}/${b.startedAt - b.startCalledAt} ms; route settled by ${directAt} ms; bulk ${c.bulk.count}×${c.bulk.size} B in ${seconds.toFixed(1)} s; RTCPeerConnections A ${attempts(traceA)}, B ${attempts(traceB)}${notes.map(n => `; ${n}`).join('')}`
  }
  console.info(`[${c.name}] rtc:\n  ${traces.join('\n  ')}${h.errors.length > 0 ? `\n  errors: ${h.errors.slice(0, 10).join('\n          ')}` : ''}`)

  expectExactlyOnce(row, c.bulk.count, 'bulk A → B')
  expectExactlyOnce(back, c.back, 'small B → A')
  return { a, b, figures, routeA, routeB }
}

/**
 * A defect the lab found in the SDK, checked where it shows: when `check`
 * fails the test is annotated `known-defect` and the failure printed, but it
 * fails only with LP2PM_STRICT_DEFECTS=1 (for whoever fixes it). Everything
 * users rely on that still holds is asserted normally around it.
 */
export async function knownDefect (id: string, summary: string, check: () => void | Promise<void>): Promise<void> {
  try {
    await check()
    test.info().annotations.push({ type: 'known-defect-absent', description: `${id}: did not reproduce this run (${summary})` })
    console.info(`[known defect ${id}] did not reproduce this run: ${summary}`)
  } catch (err: any) {
    if (process.env.LP2PM_STRICT_DEFECTS === '1') throw err
    test.info().annotations.push({ type: 'known-defect', description: `${id}: ${summary}` })
    console.warn(`[known defect ${id}] ${summary}\n  ${String(err.message).split('\n').slice(0, 40).join('\n  ')}`)
  }
}

export { test, expect }
