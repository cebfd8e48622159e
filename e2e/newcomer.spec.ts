/**
 * What a developer meets in their first hour: a relay address the browser
 * refuses, a relay that is not there, a peer known only by its id.
 */
import { test, expect, until, waitForCount } from './fixtures.js'

test('a local ws:// relay without allowInsecureRelays fails createBrowserNode at once with RelayAddressError saying what to do', async ({ openTab, relay }) => {
  const a = await openTab({ room: 'newcomer-errors' })
  const got = await a.page.evaluate(async (r) => await window.harness.tryNode([r], false), relay)
  console.info(`refused in ${got.ms.toFixed(0)} ms: ${got.message ?? ''}`)
  expect(got.ok).toBe(false)
  expect(got.name).toBe('RelayAddressError')
  expect(got.message).toContain(relay)
  expect(got.message).toContain('allowInsecureRelays: true')
  const bad = await a.page.evaluate(async () => await window.harness.tryNode(['/ip4/127.0.0.1/tcp/1/ws'], true))
  expect(bad.name).toBe('RelayAddressError')
  expect(bad.message).toContain('/p2p/')
})

test('a relay that is not there: waitOnline() rejects with RelayUnreachableError naming the relay and why', async ({ openTab, relay }) => {
  const a = await openTab({ room: 'newcomer-errors' })
  // the same relay id on a port nothing listens on
  const gone = relay.replace(/\/tcp\/\d+\//, '/tcp/9/')
  const got = await a.page.evaluate(async (r) => await window.harness.tryNode([r], true, 2_000), gone)
  console.info(`unreachable reported after ${got.ms.toFixed(0)} ms: ${got.message ?? ''}`)
  expect(got.ok).toBe(false)
  expect(got.name).toBe('RelayUnreachableError')
  expect(got.relays).toEqual([expect.objectContaining({ address: gone, error: expect.any(String) })])
  // and the real relay is reached
  const ok = await a.page.evaluate(async (r) => await window.harness.tryNode([r], true, 10_000), relay)
  expect(ok.ok).toBe(true)
})

test('without rooms: a tab sends to a peer id it was given; it arrives through the relay, the pair goes direct, and connection events say so', async ({ openTab }) => {
  const a = await openTab({})
  const b = await openTab({})
  await a.page.waitForFunction(() => window.harness.reserved())
  await b.page.waitForFunction(() => window.harness.reserved())
  await a.page.evaluate((id) => window.harness.send(id, 'by-id-', 100), b.id)
  await waitForCount(b, 100, a.id)
  expect(await b.page.evaluate((id) => window.harness.received(id), a.id)).toEqual(Array.from({ length: 100 }, (_, i) => `by-id-${i}`))
  await a.page.waitForFunction((id) => window.harness.connectionKind(id) === 'direct', b.id, { timeout: 30_000 })
  // which path: on one host, ICE pairs host candidates
  const path = await until(async () => await a.page.evaluate(async (id) => await window.harness.path(id), b.id) as any, p => p != null, 10_000, 'a selected ICE pair')
  // (the remote end is often peer-reflexive: Chromium hides host addresses behind mDNS names)
  expect(path).toMatchObject({ route: 'direct', local: { type: 'host' } })
  expect(['host', 'prflx']).toContain(path.remote.type)
  console.info(`path: ${path.kind}, local ${path.local.type} ${path.local.address}, remote ${path.remote.type} ${path.remote.address}`)
  // one machine: a host path (a peer-reflexive remote at our own address is an mDNS-hidden host)
  expect(path.kind).toBe(path.remote.type === 'host' || path.remote.address === path.local.address || /^(127\.|::1$)/.test(path.remote.address ?? '') ? 'host' : 'srflx')
  await b.page.evaluate((id) => window.harness.send(id, 'back-', 100), a.id)
  await waitForCount(a, 100, b.id)
  const events = await a.page.evaluate(() => window.harness.connectionEvents())
  const kinds = events.filter(e => e.peer === b.id).map(e => e.connection)
  console.info(`connection events at A for B: ${kinds.join(' → ')}`)
  // relayed first unless WebRTC won the race to the first join; never a flap to nothing
  expect(kinds.at(-1)).toBe('direct')
  expect(kinds).not.toContain(undefined)
  expect(kinds.length).toBeLessThanOrEqual(2)
})
