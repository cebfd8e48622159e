/**
 * Durable delivery in Chromium: queues in IndexedDB that survive reloads,
 * identities kept per tab, confirmed delivery across reloads, relay restarts
 * and network loss — all with exact counts.
 */
import { RelayProcess } from './relay-process.js'
import { TcpProxy } from './tcp-proxy.js'
import { test, expect, allConnected, diagnose, journal, until, waitForCount, type Tab } from './fixtures.js'

const expected = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

test('B\'s tab closed; A queues 500 messages to B and reloads; B opens again: B receives 500, once each, in order', { tag: ['@firefox', '@firefox-core'] }, async ({ openTab, reloadTab, browser }) => {
  const ctxA = await browser.newContext()
  const ctxB = await browser.newContext()
  const opts = { room: 'durable-500', persist: true }
  let a = await openTab(opts, ctxA)
  const b = await openTab(opts, ctxB)
  await allConnected([a, b])
  const bId = b.id
  await b.page.close()
  // default mode: queue once A knows B is gone (what was sent before that is
  // the documented in-flight loss; confirmed mode covers it)
  await a.page.waitForFunction((id) => window.harness.leaves().some(l => l.peer === id), bId, { timeout: 20_000 })
  await a.page.evaluate((id) => window.harness.send(id, 'q', 500), bId)
  await a.page.evaluate(async () => window.harness.flush())
  const aId = a.id
  a = await reloadTab(a, opts)
  expect(a.id).toBe(aId)
  expect(await a.page.evaluate(() => window.harness.pending())).toBe(500)

  const b2 = await openTab(opts, ctxB)
  expect(b2.id).toBe(bId)
  await waitForCount(b2, 500, aId)
  await new Promise(resolve => setTimeout(resolve, 1000))
  expect(await b2.page.evaluate((id) => window.harness.received(id), aId)).toEqual(expected('q', 500))
  await a.page.waitForFunction(() => window.harness.pending() === 0)
  await ctxA.close()
  await ctxB.close()
})

test('confirmed mode: A sends 1,000 while B reloads twice; B\'s application sees 1,000, once each, in order', { tag: ['@firefox', '@firefox-core'] }, async ({ openTab, reloadTab, browser }) => {
  const ctxA = await browser.newContext()
  const ctxB = await browser.newContext()
  const opts = { room: 'confirmed-reloads', persist: true, delivery: 'confirmed' as const }
  const a = await openTab(opts, ctxA)
  let b: Tab = await openTab(opts, ctxB)
  await allConnected([a, b])
  const sending = a.page.evaluate(async (id) => window.harness.sendPaced(id, 'c', 1000, 25, 50), b.id)
  const reloadsAt: number[] = []
  for (let r = 0; r < 2; r++) {
    reloadsAt.push((await until(async () => await journal(b), log => log.length >= (r + 1) * 250, 60_000, `${(r + 1) * 250} messages`)).length)
    const before = b.id
    b = await reloadTab(b, opts)
    expect(b.id).toBe(before)
  }
  await sending
  let log: string[] = []
  try {
    log = await until(async () => await journal(b), l => l.length >= 1000, 90_000, '1000 messages')
  } catch (err) {
    const seen = new Set(await journal(b))
    console.info(`B's application took ${seen.size}; reloads after ${reloadsAt.join(', ')}; missing ${expected('c', 1000).filter(m => !seen.has(m)).join(' ')}`)
    await diagnose([a, b])
    throw err
  }
  await new Promise(resolve => setTimeout(resolve, 1500))
  expect(await journal(b)).toEqual(expected('c', 1000))
  expect(log.length).toBe(1000)
  await a.page.waitForFunction(() => window.harness.pending() === 0, undefined, { timeout: 30_000 })
  await ctxA.close()
  await ctxB.close()
})

test('confirmed mode: the relay restarts in the middle of a transfer; nothing is lost', { tag: '@firefox' }, async ({ openTab }) => {
  const relay = new RelayProcess()
  await relay.start()
  try {
    const opts = { relays: [relay.address], room: 'relay-restart-transfer', delivery: 'confirmed' as const, webrtc: false }
    const a = await openTab(opts)
    const b = await openTab(opts)
    await allConnected([a, b])
    const sending = a.page.evaluate(async (id) => window.harness.sendPaced(id, 'r', 1000, 20, 40), b.id)
    await waitForCount(b, 200, a.id)
    await relay.kill()
    await new Promise(resolve => setTimeout(resolve, 1000))
    await relay.start()
    await sending
    await waitForCount(b, 1000, a.id, 90_000)
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(await b.page.evaluate((id) => window.harness.received(id), a.id)).toEqual(expected('r', 1000))
  } finally {
    await relay.stop()
  }
})

test('confirmed mode: A goes offline while sending, then online; nothing is lost', { tag: ['@firefox', '@firefox-core'] }, async ({ openTab, browser, relay }) => {
  // the tabs reach the relay through a forwarder that resets A's sockets when A's network goes:
  // Firefox's offline emulation leaves an open WebSocket working (see e2e/tcp-proxy.ts),
  // Chromium's closes it; a lost network does both, so the test does both in every browser
  const port = Number(/\/tcp\/(\d+)\//.exec(relay)?.[1])
  const proxy = new TcpProxy('127.0.0.1', port)
  await proxy.start()
  const ctxA = await browser.newContext()
  try {
    const opts = { room: 'offline', delivery: 'confirmed' as const, webrtc: false, relays: [proxy.address(relay)] }
    proxy.label = 'A'
    const a = await openTab(opts, ctxA)
    proxy.label = 'B'
    const b = await openTab(opts)
    await allConnected([a, b])
    const sending = a.page.evaluate(async (id) => window.harness.sendPaced(id, 'o', 600, 20, 40), b.id)
    await waitForCount(b, 150, a.id)
    const reset = proxy.cut('A')
    await ctxA.setOffline(true)
    expect(reset).toBeGreaterThan(0)
    // the network is really gone for A: its relay reservation goes with it
    await a.page.waitForFunction(() => !window.harness.reserved(), undefined, { timeout: 20_000 })
    const during = await b.page.evaluate((id) => window.harness.receivedCount(id), a.id)
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(await b.page.evaluate((id) => window.harness.receivedCount(id), a.id)).toBe(during)
    await ctxA.setOffline(false)
    await sending
    await waitForCount(b, 600, a.id, 90_000)
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(await b.page.evaluate((id) => window.harness.received(id), a.id)).toEqual(expected('o', 600))
  } finally {
    await ctxA.close()
    await proxy.stop()
  }
})

test('two tabs of one origin: distinct identities and outboxes; a duplicated tab gets its own identity', { tag: ['@firefox', '@firefox-core'] }, async ({ openTab, reloadTab, context }) => {
  const opts = { room: 'identities', persist: true }
  const t1 = await openTab(opts)
  const t2 = await openTab(opts)
  expect(t1.id).not.toBe(t2.id)
  const dbs = await t1.page.evaluate(async () => window.harness.databases())
  expect(dbs).toContain(`libp2p-messenger/outbox/${t1.id}`)
  expect(dbs).toContain(`libp2p-messenger/outbox/${t2.id}`)
  // a duplicated tab copies sessionStorage, slot included
  const slot = await t1.page.evaluate(() => window.harness.slot())
  await context.addInitScript((s) => { sessionStorage.setItem('libp2p-messenger/slot/default', String(s)) }, slot)
  const dup = await openTab(opts)
  expect(dup.id).not.toBe(t1.id)
  expect(dup.id).not.toBe(t2.id)
  // and the original keeps its identity across a reload
  expect((await reloadTab(t1, opts)).id).toBe(t1.id)
})
