/**
 * Transfer benchmark (issue 14): two tabs of one Chromium over direct WebRTC.
 * A file transfer (`libp2p-messenger/transfer`, from a Blob and from bytes in
 * memory) against a raw RTCDataChannel between the same two tabs sending the
 * same bytes in 64 KiB and 16 KiB messages with `bufferedAmount`
 * backpressure; interleaved rounds after a warm-up, medians, ratios.
 *
 * Starts its own relay, a Vite dev server for e2e/page and Chromium; stops
 * all of them.
 *
 *   node --import tsx bench/transfer.ts [--mb 32] [--rounds 3] [--store memory|idb]
 *     [--window 16] [--chunk 65536] [--json bench/results/transfer.json]
 */
import type { Page } from '@playwright/test'
import { arg, median, withBrowserBench, withTimeout, writeResults } from './harness.js'

const MB = Number(arg('mb', '32'))
const ROUNDS = Number(arg('rounds', '3'))
const STORE = arg('store', 'memory') as 'memory' | 'idb'
const WINDOW = Number(arg('window', '16'))
const CHUNK = Number(arg('chunk', String(64 * 1024)))
const JSON_OUT = arg('json', 'bench/results/transfer.json')
const TIMEOUT = 300_000

type Kind = 'transfer (Blob)' | 'transfer (bytes)' | 'raw 64 KiB' | 'raw 16 KiB'
const KINDS: Kind[] = ['transfer (Blob)', 'transfer (bytes)', 'raw 64 KiB', 'raw 16 KiB']

async function openTab (page: Page, base: string): Promise<void> {
  page.on('pageerror', (err) => { console.error('[page error]', err.message) })
  await page.goto(`${base}/transfer-bench.html`)
  await page.waitForFunction(() => window.tbench != null)
}

await withBrowserBench('transfer-bench.html', async ({ browser, base, relay }) => {
  const ctx = await browser.newContext()
  const a = await ctx.newPage()
  const b = await ctx.newPage()
  await Promise.all([openTab(a, base), openTab(b, base)])
  const room = `tb-${Math.random().toString(36).slice(2)}`
  const opts = { relays: [relay.address], room, store: STORE, window: WINDOW, chunkSize: CHUNK }
  const [, idB] = await Promise.all([a.evaluate(async (o) => window.tbench.start(o), opts), b.evaluate(async (o) => window.tbench.start(o), opts)])
  await a.waitForFunction((id) => window.tbench.direct(id), idB, { timeout: 60_000 })
  const offer = await a.evaluate(async () => window.tbench.rawOffer())
  const answer = await b.evaluate(async (sdp) => window.tbench.rawAnswer(sdp), offer)
  await a.evaluate(async (sdp) => { await window.tbench.rawAccept(sdp) }, answer)
  await a.evaluate((mb) => { window.tbench.prepare(mb) }, MB)

  let seq = 0
  const run = async (kind: Kind): Promise<number> => {
    const round = `r${seq++}`
    if (kind.startsWith('raw')) {
      const chunk = kind === 'raw 64 KiB' ? 65536 : 16384
      await b.evaluate(([r, n]) => { window.tbench.arm(r as string, n as number) }, [round, MB << 20] as const)
      return await withTimeout(a.evaluate(async ([mb, c, r]) => window.tbench.runRaw(mb as number, c as number, r as string), [MB, chunk, round] as const), TIMEOUT, kind)
    }
    const from = kind === 'transfer (Blob)' ? 'blob' : 'bytes'
    const r = await withTimeout(a.evaluate(async ([peer, mb, f]) => window.tbench.runTransfer(peer as string, mb as number, f as 'blob' | 'bytes'), [idB, MB, from] as const), TIMEOUT, kind)
    if (r.repeated > 0) console.log(`  (${kind}: ${r.repeated} chunks sent again)`)
    return r.ms
  }
  // warm up every path (the first bytes on a fresh connection are slow)
  for (const k of KINDS) await run(k)
  const times: Record<Kind, number[]> = { 'transfer (Blob)': [], 'transfer (bytes)': [], 'raw 64 KiB': [], 'raw 16 KiB': [] }
  for (let r = 0; r < ROUNDS; r++) {
    const order = [...KINDS.slice(r % KINDS.length), ...KINDS.slice(0, r % KINDS.length)]
    for (const k of order) times[k].push(await run(k))
  }
  const rate = (k: Kind): number => +((MB * 1.048576) / (median(times[k]) / 1000)).toFixed(1)
  const bestRaw = Math.max(rate('raw 64 KiB'), rate('raw 16 KiB'))
  const rows = KINDS.map(k => ({ kind: k, medianMs: Math.round(median(times[k])), MBps: rate(k), vsBestRaw: +(rate(k) / bestRaw).toFixed(2) }))
  console.log(`transfer bench: ${MB} MiB, ${ROUNDS} rounds, store ${STORE}, window ${WINDOW} x ${CHUNK} B (MB/s = 10^6 bytes/s)`)
  for (const r of rows) console.log(`  ${r.kind.padEnd(18)} ${String(r.MBps).padStart(6)} MB/s  (${r.medianMs} ms)  ${r.vsBestRaw}x the better raw`)
  const errors = await Promise.all([a.evaluate(() => window.tbench.errors()), b.evaluate(() => window.tbench.errors())])
  if (errors.flat().length > 0) console.log('errors:', errors)
  writeResults(JSON_OUT, { mb: MB, rounds: ROUNDS, store: STORE, window: WINDOW, chunkSize: CHUNK, rows, times, target: 0.95 })
})
