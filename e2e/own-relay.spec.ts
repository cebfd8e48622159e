/**
 * README "Running the SDK with your own relay": the browser SDK works against a
 * minimal stock js-libp2p relay configured as that section says
 * (examples/own-relay.mjs), not only against ours.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { test, expect, allConnected, waitForCount } from './fixtures.js'

let relay: ChildProcess | undefined
let address = ''

test.beforeAll(async () => {
  relay = spawn(process.execPath, ['examples/own-relay.mjs', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('the stock relay printed no address within 20 s')) }, 20_000)
    relay?.stdout?.on('data', (chunk: Buffer) => {
      const line = chunk.toString().trim().split('\n')[0]
      if (line.startsWith('/ip4/')) { clearTimeout(timer); resolve(line) }
    })
  })
})

test.afterAll(async () => {
  if (relay != null && relay.exitCode == null) {
    relay.kill('SIGTERM')
    await once(relay, 'exit')
  }
})

test('a room of three tabs on a stock js-libp2p relay: they find each other, go direct, and every message arrives once, in order', async ({ openTab }) => {
  const tabs = []
  for (let i = 0; i < 3; i++) tabs.push(await openTab({ relays: [address], room: 'own-relay' }))
  await allConnected(tabs)
  for (const t of tabs) {
    for (const o of tabs) {
      if (o !== t) await t.page.waitForFunction((id) => window.harness.connectionKind(id) === 'direct', o.id, { timeout: 30_000 })
    }
  }
  for (const t of tabs) {
    for (const o of tabs) {
      if (o !== t) await t.page.evaluate(([id, prefix]) => window.harness.send(id, prefix, 200), [o.id, `${t.id.slice(-4)}-`] as const)
    }
  }
  for (const t of tabs) {
    for (const o of tabs) {
      if (o === t) continue
      await waitForCount(t, 200, o.id)
      expect(await t.page.evaluate((id) => window.harness.received(id), o.id)).toEqual(Array.from({ length: 200 }, (_, i) => `${o.id.slice(-4)}-${i}`))
    }
  }
})

test('a tab without WebRTC talks to another over the stock relay\'s relayed connection', async ({ openTab }) => {
  const a = await openTab({ relays: [address], room: 'own-relay-relayed', blockWebRTC: true })
  const b = await openTab({ relays: [address], room: 'own-relay-relayed' })
  await allConnected([a, b])
  await a.page.evaluate((id) => window.harness.send(id, 'r', 300), b.id)
  await waitForCount(b, 300, a.id)
  expect(await b.page.evaluate((id) => window.harness.received(id), a.id)).toEqual(Array.from({ length: 300 }, (_, i) => `r${i}`))
  expect(await b.page.evaluate((id) => window.harness.connectionKind(id), a.id)).toBe('relayed')
  expect(await b.page.evaluate(async (id) => await window.harness.path(id), a.id)).toEqual({ route: 'relayed', relay: address })
})
