/**
 * Faults, in Chromium with real relays and real IndexedDB, each counting
 * messages: a second relay dies while the first stays, the receiving tab's
 * renderer crashes, another tab upgrades (or blocks the upgrade of) a tab's
 * outbox database. (A relay restart and one tab's network going away and back
 * are in durable.spec.ts and browser.spec.ts.)
 */
import { RelayProcess } from './relay-process.js'
import { test, expect, allConnected, journal, until, waitForCount } from './fixtures.js'
import type { Page } from '@playwright/test'

const expected = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

test('two relays, the second dies mid-transfer (relayed only, confirmed): every message arrives once, in order, both ways; the first relay keeps both reservations', { tag: '@firefox' }, async ({ openTab, relay }) => {
  const second = new RelayProcess()
  await second.start()
  try {
    const secondId = second.info!.peerId
    const firstId = relay.split('/p2p/').pop() as string
    const opts = { relays: [relay, second.address], delivery: 'confirmed' as const, webrtc: false }
    const a = await openTab(opts)
    const b = await openTab(opts)
    for (const t of [a, b]) {
      await t.page.waitForFunction(() => window.harness.relayStatus().every(r => r.reserved), undefined, { timeout: 20_000 })
    }
    // A reaches B through the second relay only, so the relay that dies carries the messages
    const viaSecond = (await b.page.evaluate(() => window.harness.addresses())).find(ma => ma.includes(`/p2p/${secondId}/p2p-circuit/p2p/`))
    expect(viaSecond).toBeDefined()
    await a.page.evaluate(async (ma) => { await window.harness.dial(ma) }, viaSecond as string)
    await allConnected([a, b])
    const route = async (): Promise<string[]> => (await a.page.evaluate(() => window.harness.connections()))
      .filter(c => c.peer === b.id).map(c => c.addr.includes(secondId) ? 'second' : c.addr.includes(firstId) ? 'first' : c.addr)
    expect(await route()).toEqual(['second'])

    const n = 1000
    const sending = Promise.all([
      a.page.evaluate(async (id) => { await window.harness.sendPaced(id, 'a', 1000, 10, 50) }, b.id),
      b.page.evaluate(async (id) => { await window.harness.sendPaced(id, 'b', 1000, 10, 50) }, a.id)
    ])
    await waitForCount(b, 200, a.id)
    await second.kill()
    for (const t of [a, b]) {
      await t.page.waitForFunction((ma) => window.harness.relayStatus().some(r => r.address === ma && !r.reserved), second.address, { timeout: 15_000 })
    }
    const atKill = await b.page.evaluate((id) => window.harness.receivedCount(id), a.id)
    await sending
    await waitForCount(b, n, a.id, 60_000)
    await waitForCount(a, n, b.id, 60_000)
    await sleep(1000)
    expect(await b.page.evaluate((id) => window.harness.received(id), a.id)).toEqual(expected('a', n))
    expect(await a.page.evaluate((id) => window.harness.received(id), b.id)).toEqual(expected('b', n))
    // the messages went on through the first relay
    expect([...new Set(await route())]).toEqual(['first'])
    for (const t of [a, b]) {
      // the first relay's reservation was never lost: gained once, at start
      expect((await t.page.evaluate(() => window.harness.reservations())).filter(r => r.address === relay).map(r => r.reserved)).toEqual([true])
      // the dead relay's entry says why it has no reservation
      expect(await t.page.evaluate(() => window.harness.relayStatus())).toEqual([{ address: relay, reserved: true }, { address: second.address, reserved: false, error: expect.stringContaining('WebSocket') }])
      expect(await t.page.evaluate(() => window.harness.drops())).toEqual([])
    }
    console.info(`second relay killed after ${atKill}/${n} messages had arrived; all ${n} arrived each way`)
  } finally {
    await second.stop()
  }
})

// Chromium only (no @firefox tag): the crash is simulated with the DevTools protocol (Page.crash)
test('the receiving tab crashes mid-transfer (confirmed, persisted): the sender sees it leave; opened again it has the same identity and its application sees every message once, in order', async ({ openTab, browser }) => {
  const ctxA = await browser.newContext()
  const ctxB = await browser.newContext()
  const opts = { room: 'crash', persist: true, delivery: 'confirmed' as const }
  const a = await openTab(opts, ctxA)
  const b = await openTab(opts, ctxB)
  await allConnected([a, b])
  const n = 1000
  const sending = a.page.evaluate(async (id) => { await window.harness.sendPaced(id, 'x', 1000, 10, 100) }, b.id)
  // B's application journals what it takes in localStorage, with the SDK's receipts: it survives the crash
  await until(async () => await journal(b), log => log.length >= 250, 60_000, '250 messages')

  const atCrash = (await journal(b)).length
  const cdp = await ctxB.newCDPSession(b.page)
  const crashed = new Promise(resolve => b.page.once('crash', resolve))
  const crashedAt = Date.now()
  void cdp.send('Page.crash').catch(() => {})
  await crashed
  // the crash came mid-transfer
  expect(atCrash).toBeLessThan(n - 100)
  // no unload ran: the sender notices through its connection monitor
  await a.page.waitForFunction((id) => window.harness.leaves().some(l => l.peer === id), b.id, { timeout: 20_000 })
  const leftAfter = ((await a.page.evaluate((id) => window.harness.leaves().find(l => l.peer === id), b.id))?.at ?? 0) - crashedAt
  expect(leftAfter).toBeLessThan(15_000)
  await b.page.close()

  // a new tab of the same profile: the crashed renderer's Web Lock is gone, so it takes that identity (and its receipts)
  const b2 = await openTab(opts, ctxB)
  expect(b2.id).toBe(b.id)
  await sending
  await until(async () => await journal(b2), log => log.length >= n, 90_000, `${n} messages`)
  await sleep(1500)
  expect(await journal(b2)).toEqual(expected('x', n))
  await a.page.waitForFunction(() => window.harness.pending() === 0, undefined, { timeout: 30_000 })
  expect(await a.page.evaluate(() => window.harness.drops())).toEqual([])
  console.info(`B crashed after ${atCrash}/${n} messages; A saw peer:leave after ${leftAfter} ms; B opened again with the same id and took the rest`)
  await ctxA.close()
  await ctxB.close()
})

/** The outbox database of a tab, read from another page of the same profile. */
async function readOutbox (page: Page, name: string): Promise<{ version: number, stores: string[], records: number, lanes: Array<{ peer: string, nextSeq: number }> }> {
  return await page.evaluate(async (n) => await new Promise((resolve, reject) => {
    const req = indexedDB.open(n)
    req.onerror = () => { reject(req.error) }
    req.onsuccess = () => {
      const db = req.result
      const tx = db.transaction(['records', 'lanes'], 'readonly')
      const count = tx.objectStore('records').count()
      const lanes = tx.objectStore('lanes').getAll()
      tx.oncomplete = () => {
        resolve({ version: db.version, stores: [...db.objectStoreNames], records: count.result, lanes: lanes.result.map((l: any) => ({ peer: l.peer, nextSeq: l.nextSeq })) })
        db.close()
      }
      tx.onerror = () => { reject(tx.error) }
    }
  }), name)
}

test('another tab upgrades A\'s outbox database while A sends (confirmed): A carries on at the new version, and B receives every message once, in order', { tag: '@firefox' }, async ({ openTab, context, browser }) => {
  const opts = { room: 'idb-upgrade', persist: true, delivery: 'confirmed' as const }
  const a = await openTab(opts)
  const ctxB = await browser.newContext()
  const b = await openTab(opts, ctxB)
  await allConnected([a, b])
  const name = `libp2p-messenger/outbox/${a.id}`
  const n = 1000
  const sending = a.page.evaluate(async (id) => { await window.harness.sendPaced(id, 'u', 1000, 10, 50) }, b.id)
  await waitForCount(b, 200, a.id)

  // another tab of the same origin (say, a newer version of the app) upgrades the database and keeps it open
  const other = await context.newPage()
  await other.goto('/index.html')
  const upgraded = await other.evaluate(async (dbName) => await new Promise<{ version: number, blocked: boolean }>((resolve, reject) => {
    let blocked = false
    const req = indexedDB.open(dbName, 2)
    req.onupgradeneeded = () => { req.result.createObjectStore('added-by-v2') }
    req.onblocked = () => { blocked = true }
    req.onsuccess = () => { (globalThis as any).held = req.result; resolve({ version: req.result.version, blocked }) }
    req.onerror = () => { reject(req.error) }
  }), name)
  const atUpgrade = await b.page.evaluate((id) => window.harness.receivedCount(id), a.id)
  // A's connection closed itself for the upgrade: nothing blocked it
  expect(upgraded).toEqual({ version: 2, blocked: false })

  await sending
  await waitForCount(b, n, a.id, 60_000)
  await sleep(1000)
  expect(await b.page.evaluate((id) => window.harness.received(id), a.id)).toEqual(expected('u', n))
  await a.page.waitForFunction(() => window.harness.pending() === 0, undefined, { timeout: 30_000 })
  // A's storage works at the new version: everything written after the upgrade is there
  await a.page.evaluate(async () => { await window.harness.flush() })
  const stored = await readOutbox(other, name)
  expect(stored.version).toBe(2)
  expect(stored.stores.sort()).toEqual(['added-by-v2', 'lanes', 'records'])
  expect(stored.records).toBe(0) // all acknowledged, all removed
  expect(stored.lanes).toEqual([{ peer: b.id, nextSeq: n + 1 }])
  expect(await a.page.evaluate(() => window.harness.drops())).toEqual([])
  // carried on silently, or reported StorageErrors on the way (other errors, e.g. a stream that
  // took too long to open and was retried, are not about storage: shown, not asserted)
  const errors = await a.page.evaluate(() => window.harness.errors())
  const storage = errors.filter(e => e.startsWith('StorageError'))
  console.info(`database upgraded to v2 by another tab after ${atUpgrade}/${n} messages; A reported ${storage.length} StorageErrors${storage.length > 0 ? ` (${storage[0]})` : ''}; B received all ${n}` +
    (errors.length > storage.length ? `; other errors: ${errors.filter(e => !e.startsWith('StorageError')).join(' | ')}` : ''))
  await ctxB.close()
})

test('another tab\'s upgrade of A\'s outbox database is blocked by a third tab while A sends (confirmed): A reports StorageError, nothing is lost, and A stores again once the upgrade went through', { tag: '@firefox' }, async ({ openTab, context, browser, browserName }) => {
  const opts = { room: 'idb-blocked', persist: true, delivery: 'confirmed' as const }
  const a = await openTab(opts)
  const ctxB = await browser.newContext()
  const b = await openTab(opts, ctxB)
  await allConnected([a, b])
  const name = `libp2p-messenger/outbox/${a.id}`
  const n = 1000

  // a stale tab holds the database open at version 1 and ignores requests to close it
  const stale = await context.newPage()
  await stale.goto('/index.html')
  await stale.evaluate(async (dbName) => { await new Promise<void>((resolve, reject) => { const req = indexedDB.open(dbName, 1); req.onsuccess = () => { (globalThis as any).held = req.result; resolve() }; req.onerror = () => { reject(req.error) } }) }, name)

  const sending = a.page.evaluate(async (id) => { await window.harness.sendPaced(id, 'k', 1000, 10, 200) }, b.id)
  await waitForCount(b, 100, a.id)
  // a newer tab asks for version 2: blocked by the stale tab, and every later open (A's too) waits behind it
  const upgrader = await context.newPage()
  await upgrader.goto('/index.html')
  await upgrader.evaluate((dbName) => {
    const w = globalThis as any
    w.upgrade = { blocked: false, done: false }
    const req = indexedDB.open(dbName, 2)
    req.onupgradeneeded = () => { req.result.createObjectStore('added-by-v2') }
    req.onblocked = () => { w.upgrade.blocked = true }
    req.onsuccess = () => { w.upgrade.done = true; req.result.close() }
  }, name)
  // Chromium tells the upgrading tab it is blocked. Firefox 153 does not once a connection that
  // closed for the upgrade has asked to open again (A's outbox, retrying its writes): the
  // request just waits, 'blocked' never fires (the same with plain IndexedDB, without this SDK)
  if (browserName === 'chromium') await upgrader.waitForFunction(() => (globalThis as any).upgrade.blocked === true, undefined, { timeout: 20_000 })
  // A cannot store: reported as StorageError (the outbox gives up an open after 10 s and retries)
  await a.page.waitForFunction(() => window.harness.errors().some(e => e.startsWith('StorageError')), undefined, { timeout: 30_000 })
  expect(await upgrader.evaluate(() => (globalThis as any).upgrade.done)).toBe(false)
  const duringBlock = await b.page.evaluate((id) => window.harness.receivedCount(id), a.id)
  // while the page lives nothing is lost: delivery does not wait for storage
  await waitForCount(b, duringBlock + 50, a.id, 30_000)

  // the stale tab goes away: the upgrade goes through, A reopens at version 2 and stores again
  await stale.close()
  await upgrader.waitForFunction(() => (globalThis as any).upgrade.done === true, undefined, { timeout: 20_000 })
  await sending
  await waitForCount(b, n, a.id, 60_000)
  await sleep(1000)
  expect(await b.page.evaluate((id) => window.harness.received(id), a.id)).toEqual(expected('k', n))
  await a.page.waitForFunction(() => window.harness.pending() === 0, undefined, { timeout: 30_000 })
  await a.page.evaluate(async () => { await window.harness.flush() })
  const stored = await readOutbox(upgrader, name)
  expect(stored.version).toBe(2)
  expect(stored.records).toBe(0)
  expect(stored.lanes).toEqual([{ peer: b.id, nextSeq: n + 1 }])
  expect(await a.page.evaluate(() => window.harness.drops())).toEqual([])
  const errors = await a.page.evaluate(() => window.harness.errors())
  const storage = errors.filter(e => e.startsWith('StorageError'))
  console.info(`upgrade blocked after ${duringBlock}/${n} messages; A reported ${storage.length} StorageErrors (${storage[0]}); B received all ${n}; A's outbox at v2 afterwards` +
    (errors.length > storage.length ? `; other errors: ${errors.filter(e => !e.startsWith('StorageError')).join(' | ')}` : ''))
  await ctxB.close()
})

// An open that outlives its timeout is closed when it finally succeeds, and a
// connection closes itself (not whichever is current) when another tab asks:
// a tab never keeps a later upgrade blocked.
test('an upgrade blocked by a stale tab is abandoned; a later upgrade by another tab goes through (A closed every connection it opened)', { tag: '@firefox' }, async ({ openTab, context, relay }) => {
  const a = await openTab({ persist: true, delivery: 'confirmed' as const })
  const name = `libp2p-messenger/outbox/${a.id}`
  const stale = await context.newPage()
  await stale.goto('/index.html')
  await stale.evaluate(async (dbName) => { await new Promise<void>((resolve, reject) => { const req = indexedDB.open(dbName, 1); req.onsuccess = () => { (globalThis as any).held = req.result; resolve() }; req.onerror = () => { reject(req.error) } }) }, name)
  const upgrade = async (page: Page): Promise<void> => {
    await page.goto('/index.html')
    await page.evaluate((dbName) => {
      const w = globalThis as any
      w.upgrade = { blocked: false, done: false }
      const req = indexedDB.open(dbName, 2)
      req.onupgradeneeded = () => { req.result.createObjectStore('added-by-v2') }
      req.onblocked = () => { w.upgrade.blocked = true }
      req.onsuccess = () => { w.upgrade.done = true; req.result.close() }
    }, name)
  }
  const abandoned = await context.newPage()
  await upgrade(abandoned)
  await abandoned.waitForFunction(() => (globalThis as any).upgrade.blocked === true)
  // A queues messages (to a peer that does not speak the protocol: they stay queued) and cannot store them
  await a.page.evaluate((id) => window.harness.send(id, 'q', 10), relay.split('/p2p/').pop() as string)
  await a.page.waitForFunction(() => window.harness.errors().some(e => e.startsWith('StorageError')), undefined, { timeout: 30_000 })
  // the upgrading tab gives up, the stale tab goes: A stores again, at version 1
  await abandoned.close()
  await stale.close()
  await a.page.evaluate(async () => { await window.harness.flush() })
  // a later upgrade: A's connections close on versionchange, so nothing blocks it
  const later = await context.newPage()
  await upgrade(later)
  await later.waitForFunction(() => (globalThis as any).upgrade.done === true, undefined, { timeout: 10_000 })
})

test('stored data stays within its origin: a page of another origin in the same browser profile sees no identity, outbox or receipt', { tag: '@firefox' }, async ({ openTab, context, baseURL }) => {
  const a = await openTab({ persist: true, delivery: 'confirmed' as const })
  await a.page.evaluate((id) => window.harness.send(id, 'q', 3), a.id.replace(/.$/, c => c === 'A' ? 'B' : 'A'))
  await a.page.evaluate(async () => { await window.harness.flush() })
  const mine = await a.page.evaluate(async () => window.harness.databases())
  expect(mine).toContain(`libp2p-messenger/outbox/${a.id}`)
  expect(mine.some(n => n.startsWith('libp2p-messenger/identit'))).toBe(true)
  // the same server under another host name is another origin
  const other = await context.newPage()
  const otherOrigin = (baseURL as string).replace('127.0.0.1', 'localhost')
  await other.goto(`${otherOrigin}/index.html`)
  const seen = await other.evaluate(async () => ({
    origin: location.origin,
    databases: (await indexedDB.databases()).map(d => d.name),
    storage: Object.keys(localStorage).length + Object.keys(sessionStorage).length
  }))
  expect(seen).toEqual({ origin: otherOrigin, databases: [], storage: 0 })
})
