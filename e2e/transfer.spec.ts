/**
 * File transfers between two tabs over direct WebRTC: 50 MiB as a Blob,
 * received into IndexedDB, byte-identical, progress rising on both sides,
 * and the JS heap of both tabs sampled throughout (CDP `Runtime.getHeapUsage`:
 * the V8 heap, plus ArrayBuffer backing stores, which live outside it).
 */
import { test, expect, allConnected, diagnose, until, type Tab, type TabOptions } from './fixtures.js'
import type { CDPSession, Page } from '@playwright/test'

const MIB = 1 << 20

interface Heap { used: number, backing: number }

async function heapOf (cdp: CDPSession): Promise<Heap> {
  const h = await cdp.send('Runtime.getHeapUsage') as { usedSize: number, backingStorageSize?: number }
  return { used: h.usedSize, backing: h.backingStorageSize ?? 0 }
}

async function cdpOf (page: Page): Promise<CDPSession> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('HeapProfiler.enable')
  return cdp
}

test('50 MiB between two tabs: byte-identical, progress rising, heap bounded on both sides', async ({ openTab }) => {
  test.setTimeout(180_000)
  const w = process.env.T_WINDOW != null ? Number(process.env.T_WINDOW) : undefined
  const a = await openTab({ room: 'transfer-50', transfers: 'idb', transferWindow: w })
  const b = await openTab({ room: 'transfer-50', transfers: (process.env.T_STORE as any) ?? 'idb', transferWindow: w })
  await allConnected([a, b])
  await a.page.waitForFunction((id) => window.harness.connectionKind(id) === 'direct', b.id, { timeout: 30_000 })
  await b.page.waitForFunction((id) => window.harness.connectionKind(id) === 'direct', a.id, { timeout: 30_000 })
  // warm up: the first bytes on a fresh connection are slow (field notes)
  const warm = await a.page.evaluate(async (id) => window.harness.sendFile(id, 2, 9), b.id)
  expect(warm.error).toBeUndefined()

  await a.page.evaluate(async () => { await window.harness.prepareFile(50, 1) })
  const [ca, cb] = await Promise.all([cdpOf(a.page), cdpOf(b.page)])
  await Promise.all([ca.send('HeapProfiler.collectGarbage'), cb.send('HeapProfiler.collectGarbage')])
  const base = await Promise.all([heapOf(ca), heapOf(cb)])
  // as found (garbage not yet collected counts), and live (right after a full GC), every 250 ms
  const peak: Heap[] = base.map(h => ({ ...h }))
  const peakSum = [base[0].used + base[0].backing, base[1].used + base[1].backing]
  const livePeak = [...peakSum]
  let sampling = true
  const sampler = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- cleared when the transfer ends
    while (sampling) {
      const now = await Promise.all([heapOf(ca), heapOf(cb)])
      now.forEach((h, i) => {
        peak[i].used = Math.max(peak[i].used, h.used)
        peak[i].backing = Math.max(peak[i].backing, h.backing)
        peakSum[i] = Math.max(peakSum[i], h.used + h.backing)
      })
      await Promise.all([ca.send('HeapProfiler.collectGarbage'), cb.send('HeapProfiler.collectGarbage')])
      const live = await Promise.all([heapOf(ca), heapOf(cb)])
      live.forEach((h, i) => { livePeak[i] = Math.max(livePeak[i], h.used + h.backing) })
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  })()

  // chat latency: 10 messages while idle, 10 while the transfer runs
  const latencies = async (prefix: string): Promise<number[]> => {
    const sentAt = await a.page.evaluate(async ([id, p]) => window.harness.sendTimed(id as string, p as string, 10, 100), [b.id, prefix] as const)
    const arrived = await until(async () => await b.page.evaluate((p) => window.harness.arrivals(p, 10), prefix), xs => xs.every(x => x != null), 60_000, `${prefix} messages`)
    return arrived.map((t, i) => (t as number) - sentAt[i])
  }
  const idle = await latencies('idle')
  const sending = a.page.evaluate(async (id) => window.harness.sendFile(id, 50, 1), b.id)
  await until(async () => await b.page.evaluate(() => window.harness.incoming().at(-1)?.lastBytes ?? 0), n => n >= 5 * MIB, 60_000, '5 MiB at B')
  const during = await latencies('during')
  // all ten arrived while the transfer was still under way
  expect(await b.page.evaluate(() => window.harness.incoming().at(-1)?.lastBytes ?? 0)).toBeLessThan(50 * MIB)
  const sent = await sending
  expect(sent.error).toBeUndefined()
  const received = await b.page.waitForFunction((id) => {
    const r = window.harness.incoming().find(t => t.id === id)
    return r?.digest != null || r?.error != null ? r : undefined
  }, sent.id, { timeout: 60_000, polling: 100 }).then(async h => h.jsonValue())
  sampling = false
  await sampler

  expect(received?.error).toBeUndefined()
  expect(received?.size).toBe(50 * MIB)
  expect(received?.digest).toBe(sent.digest)
  // progress rose with every event, on both sides, to the whole size
  expect(sent.notRising).toBe(0)
  expect(received?.notRising).toBe(0)
  expect(sent.lastBytes).toBe(50 * MIB)
  expect(received?.lastBytes).toBe(50 * MIB)
  expect(sent.progressEvents).toBeGreaterThan(10)
  // a healthy direct connection: nothing sent twice
  expect(sent.stats).toMatchObject({ chunks: 800, repeated: 0 })

  const med = (xs: number[]): string => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)].toFixed(1)
  console.info(`[transfer] chat latency idle: median ${med(idle)} ms, max ${Math.max(...idle).toFixed(1)} ms; during the transfer: median ${med(during)} ms, max ${Math.max(...during).toFixed(1)} ms`)
  const mb = (n: number): string => (n / MIB).toFixed(1)
  const rate = (50 / (sent.ms / 1000)).toFixed(1)
  console.info(`[transfer] 50 MiB in ${(sent.ms / 1000).toFixed(2)} s (${rate} MiB/s, including the receiver's read-back check: ${Math.round(received?.verifyMs ?? -1)} ms)`)
  for (const [i, who] of ['sender', 'receiver'].entries()) {
    console.info(`[transfer] ${who}: JS heap ${mb(base[i].used)} -> peak ${mb(peak[i].used)} MiB (+${mb(peak[i].used - base[i].used)}); ` +
      `ArrayBuffers ${mb(base[i].backing)} -> peak ${mb(peak[i].backing)} MiB; heap + ArrayBuffers: peak as found +${mb(peakSum[i] - base[i].used - base[i].backing)} MiB, ` +
      `peak live (after GC) +${mb(livePeak[i] - base[i].used - base[i].backing)} MiB`)
  }
  // neither side held the file: what is live grows by some windows (1 MiB each), never by the 50 MiB
  for (let i = 0; i < 2; i++) {
    expect(livePeak[i] - base[i].used - base[i].backing).toBeLessThan(25 * MIB)
  }
})

test('the receiver reloads mid-transfer (IndexedDB store): the transfer resumes from the chunks it stored and arrives byte-identical', async ({ openTab, reloadTab, browser }) => {
  test.setTimeout(180_000)
  const ctxA = await browser.newContext()
  const ctxB = await browser.newContext()
  const optsB: TabOptions = { room: 'transfer-reload', transfers: 'idb', persist: true }
  const a = await openTab({ room: 'transfer-reload', transfers: 'idb' }, ctxA)
  let b: Tab = await openTab(optsB, ctxB)
  try {
    await allConnected([a, b])
    await a.page.evaluate(async () => { await window.harness.prepareFile(30, 2) })
    const sending = a.page.evaluate(async (id) => window.harness.sendFile(id, 30, 2), b.id)
    const before = await until(async () => await b.page.evaluate(() => window.harness.incoming()[0]?.lastBytes ?? 0), n => n >= 10 * MIB, 60_000, '10 MiB stored at B')
    const idBefore = b.id
    b = await reloadTab(b, optsB)
    expect(b.id).toBe(idBefore)
    const sent = await sending
    expect(sent.error).toBeUndefined()
    const received = await b.page.waitForFunction((id) => {
      const r = window.harness.incoming().find(t => t.id === id)
      return r?.digest != null || r?.error != null ? r : undefined
    }, sent.id, { timeout: 60_000, polling: 100 }).then(async h => h.jsonValue())
    expect(received?.error).toBeUndefined()
    expect(received?.digest).toBe(sent.digest)
    // restored as a resumed offer with what was stored before the reload, and continued from there
    expect(received?.resumedFrom).toBeGreaterThanOrEqual(before)
    expect(received?.notRising).toBe(0)
    const chunks = 30 * 16
    // chunks sent again: those in flight when the page went away (at most one window), not the stored ones
    expect(sent.stats.chunks).toBe(chunks + sent.stats.repeated)
    expect(sent.stats.repeated).toBeLessThanOrEqual(16)
    console.info(`[transfer] receiver reloaded at ${(before / MIB).toFixed(1)} MiB stored (restored: ${((received?.resumedFrom ?? 0) / MIB).toFixed(1)} MiB); ` +
      `${sent.stats.repeated} chunks sent again, ${sent.stats.resumes} resumes; 30 MiB in ${(sent.ms / 1000).toFixed(1)} s`)
  } catch (err) {
    await diagnose([a, b])
    throw err
  } finally {
    await ctxA.close()
    await ctxB.close()
  }
})

test('the sender reloads mid-transfer: given the same file and the id it kept, it sends only what the receiver lacks', async ({ openTab, reloadTab, browser }) => {
  test.setTimeout(180_000)
  const ctxA = await browser.newContext()
  const ctxB = await browser.newContext()
  const optsA: TabOptions = { room: 'transfer-sender-reload', transfers: 'idb', persist: true }
  let a: Tab = await openTab(optsA, ctxA)
  const b = await openTab({ room: 'transfer-sender-reload', transfers: 'idb' }, ctxB)
  try {
    await allConnected([a, b])
    await a.page.evaluate(async () => { await window.harness.prepareFile(30, 3) })
    const first = a.page.evaluate(async (id) => window.harness.sendFile(id, 30, 3), b.id).catch(() => undefined)
    const before = await until(async () => await b.page.evaluate(() => window.harness.incoming()[0]?.lastBytes ?? 0), n => n >= 10 * MIB, 60_000, '10 MiB stored at B')
    a = await reloadTab(a, optsA)
    await first
    // the application kept the id; the user "picks the same file again" (the same bytes, made again)
    const id = await a.page.evaluate(() => window.harness.lastSentId())
    expect(id).toBeDefined()
    const sent = await a.page.evaluate(async ([peer, tid]) => window.harness.sendFile(peer as string, 30, 3, tid as string), [b.id, id] as const)
    expect(sent.error).toBeUndefined()
    expect(sent.id).toBe(id)
    const received = await b.page.waitForFunction((tid) => {
      const r = window.harness.incoming().find(t => t.id === tid)
      return r?.digest != null || r?.error != null ? r : undefined
    }, id, { timeout: 60_000, polling: 100 }).then(async h => h.jsonValue())
    expect(received?.error).toBeUndefined()
    expect(received?.digest).toBe(sent.digest)
    expect(received?.notRising).toBe(0)
    // one offer at the receiver (the resumed sender continues the same transfer)
    expect(await b.page.evaluate(() => window.harness.incoming().length)).toBe(1)
    // the reloaded sender sent what B lacked: at most the rest after what was stored, plus one window
    const chunks = 30 * 16
    expect(sent.stats.chunks).toBeLessThanOrEqual(chunks - Math.floor(before / (64 * 1024)) + 16)
    console.info(`[transfer] sender reloaded with ${(before / MIB).toFixed(1)} MiB stored at the receiver; after the reload it sent ${sent.stats.chunks} of ${chunks} chunks`)
  } catch (err) {
    await diagnose([a, b])
    throw err
  } finally {
    await ctxA.close()
    await ctxB.close()
  }
})

test('a relayed-only pair (no WebRTC): 8 MiB arrive byte-identical through the relay', async ({ openTab }) => {
  test.setTimeout(180_000)
  const a = await openTab({ room: 'transfer-relayed', transfers: 'memory', webrtc: false })
  const b = await openTab({ room: 'transfer-relayed', transfers: 'memory', webrtc: false })
  await allConnected([a, b])
  expect(await a.page.evaluate((id) => window.harness.connectionKind(id), b.id)).toBe('relayed')
  const sent = await a.page.evaluate(async (id) => window.harness.sendFile(id, 8, 4), b.id)
  expect(sent.error).toBeUndefined()
  const received = await b.page.waitForFunction((id) => {
    const r = window.harness.incoming().find(t => t.id === id)
    return r?.digest != null || r?.error != null ? r : undefined
  }, sent.id, { timeout: 60_000, polling: 100 }).then(async h => h.jsonValue())
  expect(received?.error).toBeUndefined()
  expect(received?.digest).toBe(sent.digest)
  expect(await a.page.evaluate((id) => window.harness.connectionKind(id), b.id)).toBe('relayed')
  console.info(`[transfer] relayed: 8 MiB in ${(sent.ms / 1000).toFixed(1)} s`)
})
