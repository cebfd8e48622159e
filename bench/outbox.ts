/**
 * Outbox benchmark (issue 4), in one Chromium:
 *
 * - enqueue: messages queued through the SDK's IndexedDB outbox (sends to an
 *   unreachable peer, until `flush()` says all are stored) against the same
 *   records put with `idb` in one relaxed transaction, in the same page;
 * - throughput: 100 B messages from one tab to another over direct WebRTC,
 *   until the receiver has them all, with the outbox on against off.
 *
 * Rounds alternate between the two sides of each comparison; medians; ratios
 * (targets: at least 0.8x in both).
 *
 *   node --import tsx bench/outbox.ts [--rounds 5] [--n 5000] [--json bench/results/outbox.json]
 */
import { arg, median, withBrowserBench, writeResults } from './harness.js'

const ROUNDS = Number(arg('rounds', '5'))
const N = Number(arg('n', '5000'))
// within the default per-peer queue cap (10,000 messages)
const THROUGHPUT_N = Number(arg('throughput-n', '8000'))
const SIZE = 100
const JSON_OUT = arg('json', 'bench/results/outbox.json')
const round1 = (x: number): number => Math.round(x * 10) / 10
const ratio = (x: number, y: number): number => Math.round(x / y * 100) / 100

await withBrowserBench('outbox-bench.html', async ({ browser, base, relay }) => {
  const ctx = await browser.newContext()
  const open = async (): Promise<import('@playwright/test').Page> => {
    const page = await ctx.newPage()
    page.on('pageerror', (err) => { console.error('[page error]', err.message) })
    await page.goto(`${base}/outbox-bench.html`)
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready')
    return page
  }
  const a = await open()
  const b = await open()
  const room = `obench-${Math.random().toString(36).slice(2)}`
  const [, idB] = await Promise.all([a, b].map(async p => await p.evaluate(async ([r, m]) => await window.obench.start([r], m), [relay.address, room] as const)))
  await a.waitForFunction((id) => window.obench.direct(id), idB, { timeout: 60_000 })
  await b.evaluate((n) => { window.obench.receive(n) }, THROUGHPUT_N)

  // warm-up, then alternate
  await a.evaluate(async ([n, s]) => await window.obench.sdkEnqueue(n, s), [N, SIZE] as const)
  await a.evaluate(async ([n, s]) => await window.obench.rawEnqueue(n, s), [N, SIZE] as const)
  await a.evaluate(async ([p, n, s]) => await window.obench.round(p, true, n, s), [idB, THROUGHPUT_N, SIZE] as const)
  await a.evaluate(async ([p, n, s]) => await window.obench.round(p, false, n, s), [idB, THROUGHPUT_N, SIZE] as const)
  const sdk: number[] = []
  const raw: number[] = []
  const on: number[] = []
  const off: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const first = r % 2 === 0
    for (const which of first ? ['sdk', 'raw'] : ['raw', 'sdk']) {
      const v = await a.evaluate(async ([w, n, s]) => w === 'sdk' ? await window.obench.sdkEnqueue(n as number, s as number) : await window.obench.rawEnqueue(n as number, s as number), [which, N, SIZE] as const)
      ;(which === 'sdk' ? sdk : raw).push(v)
    }
    for (const persisted of first ? [true, false] : [false, true]) {
      const v = await a.evaluate(async ([p, x, n, s]) => await window.obench.round(p as string, x as boolean, n as number, s as number), [idB, persisted, THROUGHPUT_N, SIZE] as const)
      ;(persisted ? on : off).push(v)
    }
  }
  const enqueue = { sdk: round1(median(sdk)), raw: round1(median(raw)), ratio: ratio(median(sdk), median(raw)), rounds: { sdk: sdk.map(Math.round), raw: raw.map(Math.round) } }
  const throughput = { on: round1(median(on)), off: round1(median(off)), ratio: ratio(median(on), median(off)), rounds: { on: on.map(Math.round), off: off.map(Math.round) } }
  console.log(`outbox enqueue (${N} x ${SIZE} B until stored): SDK ${Math.round(enqueue.sdk)} msg/s | raw idb, one transaction ${Math.round(enqueue.raw)} msg/s | ratio ${enqueue.ratio}x (target >= 0.8x: ${enqueue.ratio >= 0.8 ? 'met' : 'MISSED'})`)
  console.log(`outbox throughput (${THROUGHPUT_N} x ${SIZE} B over direct WebRTC, until received): persistence on ${Math.round(throughput.on)} msg/s | off ${Math.round(throughput.off)} msg/s | ratio ${throughput.ratio}x (target >= 0.8x: ${throughput.ratio >= 0.8 ? 'met' : 'MISSED'})`)
  await Promise.all([a, b].map(async p => await p.evaluate(async () => { await window.obench.stop() }).catch(() => {})))
  writeResults(JSON_OUT, { date: new Date().toISOString(), chromium: browser.version(), rounds: ROUNDS, enqueue, throughput })
})
