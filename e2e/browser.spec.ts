/**
 * Browsers through the relay: many tabs, relayed fallback, relay restarts,
 * tabs that go away.
 */
import { RelayProcess } from './relay-process.js'
import { test, expect, allConnected, waitForCount, type Tab } from './fixtures.js'

const expected = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

test('five tabs broadcast to each other: every tab receives every other tab\'s messages once, in order', { tag: ['@firefox', '@firefox-core'] }, async ({ openTab }) => {
  const tabs: Tab[] = []
  for (let i = 0; i < 5; i++) tabs.push(await openTab({ room: 'five' }))
  await allConnected(tabs, 60_000)
  const per = 50
  for (const [i, tab] of tabs.entries()) {
    expect(await tab.page.evaluate(([p, n]) => window.harness.broadcast(p as string, n as number), [`t${i}-`, per] as const)).toBe(4)
  }
  for (const [i, tab] of tabs.entries()) {
    await waitForCount(tab, 4 * per)
    for (const [j, other] of tabs.entries()) {
      if (i === j) continue
      expect(await tab.page.evaluate((id) => window.harness.received(id), other.id)).toEqual(expected(`t${j}-`, per))
    }
    expect(await tab.page.evaluate(() => window.harness.receivedCount())).toBe(4 * per)
  }
})

test('WebRTC impossible for one tab (its own browser context): messages still arrive over the relayed connection', { tag: ['@firefox', '@firefox-core'] }, async ({ openTab, browser }) => {
  const a = await openTab({ room: 'no-webrtc' })
  const blockedContext = await browser.newContext()
  const b = await openTab({ room: 'no-webrtc', blockWebRTC: true }, blockedContext)
  await allConnected([a, b])
  expect(await a.page.evaluate((id) => window.harness.connectionKind(id), b.id)).toBe('relayed')
  await a.page.evaluate((id) => window.harness.send(id, 'a', 500), b.id)
  await b.page.evaluate((id) => window.harness.send(id, 'b', 500), a.id)
  await waitForCount(b, 500, a.id)
  await waitForCount(a, 500, b.id)
  expect(await b.page.evaluate((id) => window.harness.received(id), a.id)).toEqual(expected('a', 500))
  expect(await a.page.evaluate((id) => window.harness.received(id), b.id)).toEqual(expected('b', 500))
  // the direct attempts gave up, bounded, and everything stayed relayed
  expect(await a.page.evaluate((id) => window.harness.connectionKind(id), b.id)).toBe('relayed')
  await blockedContext.close()
})

test('the relay is killed and restarted: tabs re-reserve and relayed messaging resumes', { tag: ['@firefox', '@firefox-core'] }, async ({ openTab }) => {
  const relay = new RelayProcess()
  await relay.start()
  try {
    // relayed only, so the relay is on the path of every message
    const a = await openTab({ relays: [relay.address], room: 'restart', webrtc: false })
    const b = await openTab({ relays: [relay.address], room: 'restart', webrtc: false })
    await allConnected([a, b])
    await a.page.evaluate((id) => window.harness.send(id, 'before', 100), b.id)
    await waitForCount(b, 100, a.id)

    await relay.kill()
    for (const t of [a, b]) await t.page.waitForFunction(() => !window.harness.reserved(), undefined, { timeout: 15_000 })
    await relay.start()
    for (const t of [a, b]) await t.page.waitForFunction(() => window.harness.reserved(), undefined, { timeout: 30_000 })
    await allConnected([a, b], 30_000)

    await a.page.evaluate((id) => window.harness.send(id, 'after', 100), b.id)
    await waitForCount(b, 200, a.id)
    const got = await b.page.evaluate((id) => window.harness.received(id), a.id)
    expect(got).toEqual([...expected('before', 100), ...expected('after', 100)])
  } finally {
    await relay.stop()
  }
})

test('a tab closes: the others see peer:leave within a bounded time', { tag: '@firefox' }, async ({ openTab }) => {
  const a = await openTab({ room: 'leave' })
  const b = await openTab({ room: 'leave' })
  const c = await openTab({ room: 'leave' })
  await allConnected([a, b, c])
  await a.page.waitForFunction((id) => window.harness.connectionKind(id) === 'direct', c.id, { timeout: 30_000 })
  const closedAt = Date.now()
  await c.page.close()
  for (const t of [a, b]) {
    await t.page.waitForFunction((id) => window.harness.leaves().some(l => l.peer === id), c.id, { timeout: 20_000 })
    const leave = await t.page.evaluate((id) => window.harness.leaves().find(l => l.peer === id), c.id)
    console.info(`peer:leave after ${(leave?.at ?? 0) - closedAt} ms`)
    expect(await t.page.evaluate(() => window.harness.peers().length)).toBe(1)
  }
})
