import { test, expect, allConnected, waitForCount } from './fixtures.js'

test('two tabs in a room get a direct WebRTC connection and exchange 1,000 messages each way in order', { tag: ['@firefox', '@firefox-core'] }, async ({ openTab }) => {
  const a = await openTab({ room: 'two-tabs' })
  const b = await openTab({ room: 'two-tabs' })
  await allConnected([a, b])
  await a.page.waitForFunction((id) => window.harness.connectionKind(id) === 'direct', b.id, { timeout: 30_000 })
  await a.page.evaluate((id) => window.harness.send(id, 'a', 1000), b.id)
  await b.page.evaluate((id) => window.harness.send(id, 'b', 1000), a.id)
  await waitForCount(b, 1000, a.id)
  await waitForCount(a, 1000, b.id)
  const atB = await b.page.evaluate((id) => window.harness.received(id), a.id)
  const atA = await a.page.evaluate((id) => window.harness.received(id), b.id)
  expect(atB).toEqual(Array.from({ length: 1000 }, (_, i) => `a${i}`))
  expect(atA).toEqual(Array.from({ length: 1000 }, (_, i) => `b${i}`))
  // B's side goes direct too (at once, or after its own dial when the first WebRTC dial hung on
  // one side: the @libp2p/webrtc init-channel race)
  await b.page.waitForFunction((id) => window.harness.connectionKind(id) === 'direct', a.id, { timeout: 30_000 })
})
