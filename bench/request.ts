/**
 * Request/response benchmark (issue 5): two tabs of one Chromium over direct
 * WebRTC, the SDK's two wire modes against a bare libp2p request/response
 * (`newStream`, `lpStream` write, read, close), side by side in the same tabs
 * on the same connection.
 *
 * For each case (concurrency, payload size): one warm-up run of every kind,
 * then `--rounds` rounds, the order of the kinds rotating round by round.
 * Requests per second is the median over rounds; p50/p99 latency are over
 * every request of every round. Targets: multiplexed >= 2x the bare
 * requests/s, and a lower p99.
 *
 * Starts its own relay (relay/cli.ts), a Vite dev server for e2e/page and
 * Chromium; stops all of them.
 *
 *   node --import tsx bench/request.ts [--rounds 5] [--json bench/results/request.json]
 *     [--cases seq,c32,c32-16k] [--kinds multiplexed,stream,bare]
 */
import type { Browser, Page } from '@playwright/test'
import { median, sleep, withBrowserBench, withTimeout, writeResults } from './harness.js'
import type { Kind, RunResult } from '../e2e/page/request-bench.js'

const args = process.argv.slice(2)
const arg = (name: string, dflt: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt }
const ROUNDS = Number(arg('rounds', '5'))
const JSON_OUT = arg('json', 'bench/results/request.json')
const RUN_TIMEOUT = 180_000
/** Pause before each measured run. */
const SETTLE_MS = 1_000

interface Case { name: string, concurrency: number, count: number, size: number }
const ALL_CASES: Record<string, Case> = {
  seq: { name: 'sequential, 100 B', concurrency: 1, count: 300, size: 100 },
  c32: { name: '32 concurrent, 100 B', concurrency: 32, count: 3000, size: 100 },
  'c32-16k': { name: '32 concurrent, 16 KiB', concurrency: 32, count: 1000, size: 16 * 1024 },
  // extra, for diagnosis (--cases)
  'seq-16k': { name: 'sequential, 16 KiB', concurrency: 1, count: 300, size: 16 * 1024 },
  'c4-16k': { name: '4 concurrent, 16 KiB', concurrency: 4, count: 500, size: 16 * 1024 }
}
const CASES: Case[] = arg('cases', 'seq,c32,c32-16k').split(',').map(k => ALL_CASES[k])
const KINDS = arg('kinds', 'multiplexed,stream,bare').split(',') as Kind[]

const round2 = (x: number): number => Math.round(x * 100) / 100
/** Nearest-rank percentile of a sorted list. */
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]

async function openTab (browser: Browser, base: string, ctx = browser.contexts()[0]): Promise<Page> {
  const page = await ctx.newPage()
  page.on('pageerror', (err) => { console.error('[page error]', err.message) })
  await page.goto(`${base}/request-bench.html`)
  await page.waitForFunction(() => window.rbench != null)
  return page
}

interface KindStats {
  requestsPerSec: number
  p50Ms: number
  p99Ms: number
  meanMs: number
  roundsPerSec: number[]
  errors: number
}

function stats (runs: RunResult[]): KindStats {
  const all = runs.flatMap(r => r.latencies).sort((x, y) => x - y)
  const perSec = runs.map(r => r.count / (r.ms / 1000))
  return {
    requestsPerSec: Math.round(median(perSec)),
    p50Ms: round2(percentile(all, 50)),
    p99Ms: round2(percentile(all, 99)),
    meanMs: round2(all.reduce((x, y) => x + y, 0) / all.length),
    roundsPerSec: perSec.map(Math.round),
    errors: runs.reduce((n, r) => n + r.errors, 0)
  }
}

async function main (): Promise<void> {
  await withBrowserBench('request-bench.html', async ({ browser, base, relay }) => {
    const ctx = await browser.newContext()
    const a = await openTab(browser, base, ctx)
    const b = await openTab(browser, base, ctx)
    const room = `rbench-${Math.random().toString(36).slice(2)}`
    const [idA, idB] = await Promise.all([
      a.evaluate(async (o) => window.rbench.start(o), { relays: [relay.address], room }),
      b.evaluate(async (o) => window.rbench.start(o), { relays: [relay.address], room })
    ])
    await a.waitForFunction((id) => window.rbench.connection(id) === 'direct', idB, { timeout: 60_000 })

    const run = async (kind: Kind, c: Case): Promise<RunResult> => {
      const r = await withTimeout(a.evaluate(async ([k, p, n, conc, s]) => window.rbench.run(k as Kind, p as string, n as number, conc as number, s as number),
        [kind, idB, c.count, c.concurrency, c.size] as const), RUN_TIMEOUT, `${kind} ${c.name}`)
      if (r.errors > 0) {
        console.log(`  ${kind} ${c.name}: ${r.errors} errors, first: ${r.firstError}`)
        console.log(`    caller: ${JSON.stringify(await a.evaluate((id) => window.rbench.diag(id), idB))}`)
        console.log(`    handler: ${JSON.stringify(await b.evaluate((id) => window.rbench.diag(id), idA))}`)
      }
      return r
    }

    const results: any[] = []
    for (const c of CASES) {
      // warm up every path (data channels, JIT, the first transfers on a fresh connection are slower)
      for (const k of KINDS) await run(k, c)
      const route = await a.evaluate((id) => window.rbench.muxRoute(id), idB)
      if (route.length !== 1 || route[0] !== 'direct') throw new Error(`multiplexed stream not (only) on the direct connection: ${JSON.stringify(route)}`)
      if (await a.evaluate((id) => window.rbench.connection(id), idB) !== 'direct') throw new Error('lost the direct connection')
      const runs = Object.fromEntries(KINDS.map(k => [k, [] as RunResult[]])) as Record<Kind, RunResult[]>
      for (let r = 0; r < ROUNDS; r++) {
        // rotate the order round by round
        const order = KINDS.map((_, i) => KINDS[(i + r) % KINDS.length])
        for (const k of order) {
          // let the previous run's streams finish closing (data channels close asynchronously)
          await sleep(SETTLE_MS)
          runs[k].push(await run(k, c))
        }
      }
      const s = Object.fromEntries(KINDS.map(k => [k, stats(runs[k])])) as Record<Kind, KindStats>
      if (KINDS.length < 3) {
        console.log(`request ${c.name}: ${KINDS.map(k => `${k} ${s[k].requestsPerSec} req/s p50 ${s[k].p50Ms} ms p99 ${s[k].p99Ms} ms`).join(' | ')}`)
        results.push({ case: c.name, ...s })
        continue
      }
      const ratio = round2(s.multiplexed.requestsPerSec / s.bare.requestsPerSec)
      const streamRatio = round2(s.stream.requestsPerSec / s.bare.requestsPerSec)
      const row = {
        case: c.name,
        concurrency: c.concurrency,
        requestsPerRound: c.count,
        payloadBytes: c.size,
        rounds: ROUNDS,
        ...s,
        multiplexedVsBare: ratio,
        streamVsBare: streamRatio,
        targets: { requestsPerSec: '>= 2x bare', p99: '< bare' },
        met: { requestsPerSec: ratio >= 2, p99: s.multiplexed.p99Ms < s.bare.p99Ms }
      }
      results.push(row)
      const show = (k: Kind): string => `${k} ${s[k].requestsPerSec} req/s p50 ${s[k].p50Ms} ms p99 ${s[k].p99Ms} ms`
      console.log(`request ${c.name}: ${show('multiplexed')} | ${show('stream')} | ${show('bare')} | multiplexed ${ratio}x bare (target >= 2x: ${row.met.requestsPerSec ? 'met' : 'MISSED'}), p99 ${s.multiplexed.p99Ms} vs ${s.bare.p99Ms} ms (target lower: ${row.met.p99 ? 'met' : 'MISSED'}) | stream mode ${streamRatio}x bare`)
    }
    await Promise.all([a, b].map(async p => withTimeout(p.evaluate(async () => window.rbench.stop()), 5_000, 'stop').catch(() => {})))
    const out = { date: new Date().toISOString(), node: process.version, chromium: browser.version(), cpus: (await import('node:os')).cpus().length, results }
    writeResults(JSON_OUT, out)
  })
}

await main()
