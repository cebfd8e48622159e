/**
 * Fixtures for the network lab: a browser per home network (launched inside
 * the home's namespace), the test page from the lab's public page server,
 * the lab's relay, and the figures each case records.
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { test as base, expect, chromium, type Browser, type Page } from '@playwright/test'
import * as lab from './lab.js'
import { PAGE_ORIGIN } from './services.js'
import { traceRTC, readTrace, summarizeTrace } from './rtc-trace.js'
import { FIGURES_FILE } from './figures.js'

const ROOT = new URL('../..', import.meta.url).pathname
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export interface StartOptions {
  room: string
  iceServers?: RTCIceServer[]
  webrtc?: boolean
  delivery?: 'default' | 'confirmed'
  tally?: boolean
  pingInterval?: number
  pingTimeout?: number
}

export interface HomeTab {
  home: lab.HomeName
  browser: Browser
  page: Page
  id: string
  /** Date.now() just before start() was called, and when it resolved */
  startCalledAt: number
  startedAt: number
}

export interface Figures {
  case: string
  path: string
  firstMessageMs?: number
  /** KiB/s of payload, and messages/s */
  throughputKiBs?: number
  throughputMsgs?: number
  sent: number
  received: number
  lost: number
  duplicated: number
  outOfOrder: number
  peerLeaves: number
  errors: number
  notes?: string
}

export interface Homes {
  /** Launch a browser in `home`'s namespace, open the test page, start it with `opts` (confirmed mode and tally by default). */
  open: (home: lab.HomeName, opts: StartOptions) => Promise<HomeTab>
  /** Both homes at once: browsers launched and pages loaded first, then both start() calls together. */
  pair: (opts: StartOptions, optsB?: Partial<StartOptions>) => Promise<[HomeTab, HomeTab]>
}

type Fixtures = {
  relay: string
  homes: Homes
  /** Append a row to the figures table (printed after the run). */
  record: (f: Figures) => void
}

async function launchIn (home: lab.HomeName): Promise<Browser> {
  return await chromium.launch({
    executablePath: `${ROOT}e2e/network/netns-chromium.sh`,
    env: { ...process.env, LP2PM_NETNS: lab.HOMES[home].home, LP2PM_CHROMIUM: CHROMIUM },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // the page is plain http on the lab's "public" address: make it a secure
      // context, as an https deployment would be (WebCrypto, Web Locks)
      `--unsafely-treat-insecure-origin-as-secure=${PAGE_ORIGIN}`,
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'
      // no fake media flags: host candidates stay mDNS-obfuscated, as for real users
    ]
  })
}

export const test = base.extend<Fixtures>({
  relay: async ({}, use) => { await use(process.env.LP2PM_NET_RELAY as string) },
  homes: async ({ relay }, use, testInfo) => {
    const tabs: HomeTab[] = []
    const browsers: Browser[] = []
    const load = async (home: lab.HomeName): Promise<HomeTab> => {
      const browser = await launchIn(home)
      browsers.push(browser)
      const context = await browser.newContext()
      await traceRTC(context)
      const page = await context.newPage()
      page.on('pageerror', (err) => { console.error(`[page error ${home}]`, err.message) })
      await page.goto(`${PAGE_ORIGIN}/index.html`)
      const tab: HomeTab = { home, browser, page, id: '', startCalledAt: 0, startedAt: 0 }
      tabs.push(tab)
      return tab
    }
    const start = async (tab: HomeTab, opts: StartOptions): Promise<HomeTab> => {
      tab.startCalledAt = Date.now()
      tab.id = await tab.page.evaluate(async (o) => await window.harness.start(o), { relays: [relay], delivery: 'confirmed' as const, tally: true, ...opts })
      tab.startedAt = Date.now()
      return tab
    }
    await use({
      open: async (home, opts) => await start(await load(home), opts),
      pair: async (opts, optsB) => {
        const [a, b] = await Promise.all([load('a'), load('b')])
        await Promise.all([start(a, opts), start(b, { ...opts, ...optsB })])
        return [a, b]
      }
    })
    if (testInfo.status !== testInfo.expectedStatus) {
      for (const t of tabs) {
        const d = await t.page.evaluate(() => ({
          peers: window.harness.peers(),
          connections: window.harness.connections(),
          relays: window.harness.relayStatus(),
          errors: window.harness.errors().slice(-10),
          leaves: window.harness.leaves().length,
          tally: window.harness.tally().map(x => ({ ...x, prefix: x.prefix.slice(0, 12) })),
          outLanes: window.harness.outLanes()
        })).catch((err: Error) => ({ unavailable: err.message }))
        console.info(`[diagnose ${t.home}] ${t.id}: ${JSON.stringify(d)}\n  rtc: ${summarizeTrace(await readTrace(t.page)).join('\n       ')}`)
      }
    }
    await Promise.all(tabs.map(async t => await t.page.evaluate(async () => { await window.harness.stop() }).catch(() => {})))
    await Promise.all(browsers.map(async b => await b.close().catch(() => {})))
    // every case leaves the lab as it found it
    lab.configure('a', {})
    lab.configure('b', {})
  },
  record: async ({}, use) => {
    const began = Date.now()
    await use((f) => {
      mkdirSync(dirname(FIGURES_FILE), { recursive: true })
      appendFileSync(FIGURES_FILE, JSON.stringify({ ...f, durationMs: Date.now() - began }) + '\n')
      console.info(`[figures] ${JSON.stringify(f)}`)
    })
  }
})

export { expect }

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** A unique room per case. */
export const room = (name: string): string => `${name}-${Math.random().toString(36).slice(2, 8)}`

/** Payload of `size` bytes ending in a running index (the page's tally counts `${prefix}${i}`). */
export const padPrefix = (tag: string, size: number): string => `${tag}-${'x'.repeat(Math.max(0, size - tag.length - 6))}-`

export interface TallyRow { from: string, prefix: string, count: number, next: number, bad: number, samples: string[], firstAt: number, lastAt: number, maxGapMs: number, maxGapAfter: number, maxGapEnd: number }

/** What `tab` received from `from` with `prefix`, and when. */
export async function tallyOf (tab: HomeTab, from: string, prefix: string): Promise<TallyRow | undefined> {
  const [tally, timing] = await tab.page.evaluate(() => [window.harness.tally(), window.harness.tallyTiming()] as const)
  const t = tally.find(x => x.from === from && x.prefix === prefix)
  const w = timing.find(x => x.from === from && x.prefix === prefix)
  return t == null || w == null ? undefined : { ...t, ...w }
}

/** Wait until `tab` took `n` messages `${prefix}i` from `from`. */
export async function waitForTally (tab: HomeTab, from: string, prefix: string, n: number, timeout: number): Promise<TallyRow> {
  await tab.page.waitForFunction(([f, p, count]) => window.harness.tally().some(t => t.from === f && t.prefix === p && t.count >= (count as number)),
    [from, prefix, n] as const, { timeout, polling: 100 })
  return (await tallyOf(tab, from, prefix)) as TallyRow
}

/**
 * Exactly-once in order, from a tally: `lost` = sent minus distinct indexes
 * seen; `duplicated` / `outOfOrder` from the page's count of unexpected
 * indexes (a duplicate of an older index, or a gap then a late arrival).
 */
export function accounting (t: TallyRow | undefined, sent: number): { received: number, lost: number, duplicated: number, outOfOrder: number } {
  if (t == null) return { received: 0, lost: sent, duplicated: 0, outOfOrder: 0 }
  // in-order delivery has next === count; every deviation counted in `bad`
  const dup = Math.max(0, t.count - t.next)
  return { received: t.count, lost: Math.max(0, sent - t.next), duplicated: dup, outOfOrder: t.bad - dup > 0 ? t.bad - dup : 0 }
}

/**
 * The route between the two tabs as seen from `tab`: 'direct host', 'direct
 * srflx', 'direct TURN' (from the selected ICE candidate pair), or 'relayed'
 * (the circuit through the relay), for the connection the messenger uses.
 */
export async function routeOf (tab: HomeTab, peer: string): Promise<{ route: string, messenger?: string, detail: unknown }> {
  const paths = await tab.page.evaluate(async (p) => await window.harness.paths(p), peer)
  const messenger = await tab.page.evaluate((p) => window.harness.connectionKind(p), peer)
  const direct = paths.find(p => p.route === 'direct' && p.connectionState === 'connected')
  let route = 'none'
  if (direct != null && direct.route === 'direct') route = `direct ${direct.path?.kind === 'turn' ? 'TURN' : direct.path?.kind ?? '?'}`
  else if (paths.some(p => p.route === 'relayed')) route = 'relayed'
  return { route, messenger, detail: paths }
}

/** Wait until `tab` has a connected direct path to `peer`; returns it, or undefined after `ms`. */
export async function waitForDirect (tab: HomeTab, peer: string, ms: number): Promise<string | undefined> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const r = await routeOf(tab, peer)
    if (r.route.startsWith('direct') && r.messenger === 'direct') return r.route
    await sleep(200)
  }
  return undefined
}

export { readTrace, summarizeTrace }
