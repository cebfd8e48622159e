/**
 * Page states (issue 12): a page frozen by the browser (Chrome's page lifecycle
 * freeze, as for a background tab on a low-memory device or a laptop lid
 * closed) stops running JavaScript and answering pings; its peers give it up.
 * Here the page's event loop is stopped in the debugger (see freeze()).
 * In confirmed mode nothing may be lost either way, and after the page is
 * resumed it must be messaging again soon (the bound is printed, not asserted
 * to the millisecond).
 *
 * Chromium only: the freeze is driven over the DevTools protocol.
 */
import { test, expect, allConnected, diagnose, journal, until, type Tab } from './fixtures.js'
import type { Page } from '@playwright/test'

const expected = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** Freeze the page for `ms`; returns the longest pause its timers saw (proof that it was frozen). */
async function freeze (page: Page, ms: number): Promise<number> {
  await page.evaluate(() => {
    const w = window as any
    w.__last = Date.now()
    w.__gap = 0
    w.__tick = setInterval(() => { const now = Date.now(); w.__gap = Math.max(w.__gap, now - w.__last); w.__last = now }, 50)
  })
  // Page.setWebLifecycleState('frozen') freezes only hidden pages, and a headless page is never
  // hidden (its timers kept running: checked). Pausing the page's JavaScript in the debugger stops
  // its event loop the same way a freeze does: no timer, no message, no ping answer runs.
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Debugger.enable')
  await cdp.send('Debugger.pause')
  await new Promise(resolve => setTimeout(resolve, ms))
  await cdp.send('Debugger.resume')
  await cdp.send('Debugger.disable')
  await cdp.detach()
  await new Promise(resolve => setTimeout(resolve, 200))
  return await page.evaluate(() => { const w = window as any; clearInterval(w.__tick); return w.__gap as number })
}

for (const frozen of ['receiver', 'sender'] as const) {
  test(`confirmed mode: the ${frozen}'s page is frozen for 12 s in the middle of 1,000 messages; every message arrives once, in order, and messaging resumes soon after`, async ({ openTab, browser }) => {
    const ctxA = await browser.newContext()
    const ctxB = await browser.newContext()
    const opts = { room: `frozen-${frozen}`, persist: true, delivery: 'confirmed' as const }
    const a: Tab = await openTab(opts, ctxA)
    const b: Tab = await openTab(opts, ctxB)
    try {
      await allConnected([a, b])
      // 1,000 messages over ~5 s: the freeze lands in the middle
      const sending = a.page.evaluate(async (id) => { await window.harness.sendPaced(id, 'f', 1000, 10, 50) }, b.id)
      await until(async () => await journal(b), log => log.length >= 200, 30_000, '200 messages before the freeze')
      const target = frozen === 'receiver' ? b : a
      const during = (await journal(b)).length
      const gap = await freeze(target.page, 12_000)
      const resumed = Date.now()
      const before = (await journal(b)).length
      console.info(`the ${frozen}'s timers stood still for ${gap} ms; B had ${during} messages when the freeze began, ${before} at the resume`)
      expect(gap).toBeGreaterThan(10_000)
      // messaging again: the next message after the resume
      await until(async () => await journal(b), log => log.length > before || log.length >= 1000, 60_000, 'a message after the resume')
      const again = Date.now() - resumed
      await sending
      const log = await until(async () => await journal(b), l => l.length >= 1000, 90_000, '1000 messages')
      const all = Date.now() - resumed
      await new Promise(resolve => setTimeout(resolve, 1_000))
      console.info(`${frozen} frozen 12 s after ${during} messages: the next message ${again} ms after the resume, all 1000 after ${all} ms`)
      expect(await journal(b)).toEqual(expected('f', 1000))
      expect(log.length).toBe(1000)
      await a.page.waitForFunction(() => window.harness.pending() === 0, undefined, { timeout: 30_000 })
      expect((await a.page.evaluate(() => window.harness.drops())).length).toBe(0)
    } catch (err) {
      await diagnose([a, b])
      throw err
    } finally {
      await ctxA.close()
      await ctxB.close()
    }
  })
}
