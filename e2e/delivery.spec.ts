/**
 * Delivery under the faults outside users found (issue 10), in Chromium with
 * the real relay: every message arrives, in order, exactly as many as sent.
 */
import { test, expect, allConnected, diagnose, hangWebRTCDials, until, type Tab } from './fixtures.js'

const expected = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

test('default mode: every WebRTC dial hangs on the dialing side (the init-channel race); 500 messages each way, paced over 3 s, all arrive in order', async ({ openTab, browser }) => {
  const ctxA = await browser.newContext()
  const ctxB = await browser.newContext()
  await hangWebRTCDials(ctxA)
  await hangWebRTCDials(ctxB)
  const a = await openTab({ room: 'dial-race' }, ctxA)
  const b = await openTab({ room: 'dial-race' }, ctxB)
  const tabs: Tab[] = [a, b]
  try {
    await allConnected(tabs)
    await Promise.all([
      a.page.evaluate(async (id) => { await window.harness.sendPaced(id, 'a', 500, 25, 150) }, b.id),
      b.page.evaluate(async (id) => { await window.harness.sendPaced(id, 'b', 500, 25, 150) }, a.id)
    ])
    await until(async () => await Promise.all([b.page.evaluate((id) => window.harness.receivedCount(id), a.id), a.page.evaluate((id) => window.harness.receivedCount(id), b.id)]),
      ([x, y]) => x >= 500 && y >= 500, 45_000, '500 each way')
    for (const t of tabs) console.info(JSON.stringify(await t.page.evaluate(() => ({ errors: window.harness.errors(), drops: window.harness.drops(), conns: window.harness.connections() }))))
    expect(await b.page.evaluate((id) => window.harness.received(id), a.id)).toEqual(expected('a', 500))
    expect(await a.page.evaluate((id) => window.harness.received(id), b.id)).toEqual(expected('b', 500))
  } catch (err) {
    await diagnose(tabs)
    for (const t of tabs) console.info(await t.page.evaluate(() => ({ errors: window.harness.errors(), drops: window.harness.drops() })))
    throw err
  } finally {
    await ctxA.close()
    await ctxB.close()
  }
})
