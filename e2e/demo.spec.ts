/**
 * The demo chat page (demo/), driven as a person would: names typed into the
 * join form, messages typed and sent with Enter, peers clicked. Three tabs of
 * one browser in one room, on the relay the test run starts (E2E_RELAY),
 * passed to the page with ?relay=. The page is served by a Vite dev server
 * started here with the top-level vite.config.ts.
 *
 * Screenshots are attached to the test results; one is written to
 * docs/demo.png for the README (UPDATE_DEMO_SCREENSHOT=1).
 */
import { writeFileSync } from 'node:fs'
import { createServer as createNetServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { test, expect, type Browser, type BrowserContext, type Page, type TestInfo } from '@playwright/test'
import { createServer, type ViteDevServer } from 'vite'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
// each run has its own relay (e2e/global-setup.ts) and no other test uses this room
const ROOM = 'lobby'
const T0 = Date.now()
/** DEMO_E2E_TIMING=1: print when each step was reached. */
const mark = (what: string): void => { if (process.env.DEMO_E2E_TIMING != null) console.info(`${((Date.now() - T0) / 1000).toFixed(1)} s ${what}`) }

test.describe.configure({ mode: 'serial' })

let server: ViteDevServer | undefined
let pageUrl = ''
let context: BrowserContext
const tabs: Record<'alice' | 'bob' | 'carol', Page> = {} as any
/** Every room message sent, in the order sent. */
const roomLog: string[] = []

async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      srv.close(() => { resolve(typeof address === 'object' && address != null ? address.port : 0) })
    })
  })
}

async function newContext (browser: Browser): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: { width: 1120, height: 720 } })
  // hosts with only a loopback interface gather ICE candidates only once a
  // media permission was granted (with the fake-media flags of the config);
  // the test grants it, the page itself never asks
  await ctx.addInitScript(() => {
    void navigator.mediaDevices?.getUserMedia({ audio: true }).then((s) => { for (const t of s.getTracks()) t.stop() }).catch(() => {})
  })
  return ctx
}

/** Open the page in a new tab, type a name, join. */
async function join (name: string): Promise<Page> {
  const page = await context.newPage()
  page.on('pageerror', (err) => { console.error(`[${name} page error]`, err.message) })
  await page.goto(pageUrl)
  const nameInput = page.getByRole('textbox', { name: 'Your display name' })
  await expect(nameInput).toBeVisible({ timeout: 30_000 })
  await expect(page.getByRole('textbox', { name: 'Room', exact: true })).toHaveValue(ROOM)
  await nameInput.fill(name)
  await nameInput.press('Enter')
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 })
  return page
}

async function say (page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: /^Message / })
  await box.click()
  await box.fill(text)
  await box.press('Enter')
  await expect(box).toHaveValue('')
}

const texts = (page: Page) => page.locator('#messages .msg .text')
const peerRow = (page: Page, name: string) => page.locator('#peer-list li.peer', { hasText: name })

/** A screenshot, kept in the test's output folder and attached to its results. */
async function shot (page: Page, testInfo: TestInfo, name: string): Promise<Buffer> {
  const path = testInfo.outputPath(name)
  const png = await page.screenshot({ path })
  await testInfo.attach(name, { path, contentType: 'image/png' })
  return png
}

test.beforeAll(async ({ browser }) => {
  const relay = process.env.E2E_RELAY
  if (relay == null) throw new Error('E2E_RELAY is not set (e2e/global-setup.ts starts the relay)')
  const port = await freePort()
  server = await createServer({
    configFile: `${ROOT}vite.config.ts`,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false },
    logLevel: 'warn',
    clearScreen: false
  })
  await server.listen()
  pageUrl = `http://127.0.0.1:${port}/?room=${encodeURIComponent(ROOM)}&relay=${encodeURIComponent(relay)}`
  // warm-up in a throw-away context: Vite prepares the page's dependencies on first load
  const warm = await newContext(browser)
  const page = await warm.newPage()
  await page.goto(pageUrl)
  await expect(page.getByRole('textbox', { name: 'Your display name' })).toBeVisible({ timeout: 60_000 })
  await warm.close()
  mark('warm')
  context = await newContext(browser)
})

test.afterAll(async () => {
  await context?.close()
  await server?.close()
})

test('three tabs join a room and chat: every tab shows every message once, in order; badges show direct WebRTC', async ({}, testInfo) => {
  ;[tabs.alice, tabs.bob, tabs.carol] = await Promise.all([join('Alice'), join('Bob'), join('Carol')])
  const all = Object.values(tabs)
  mark('joined')

  for (const page of all) {
    await expect(page.locator('#people-count')).toHaveText('2 online', { timeout: 30_000 })
  }
  mark('2 online')
  const lines: Array<[Page, string]> = [
    [tabs.alice, 'Hi everyone!'],
    [tabs.bob, 'Hey Alice — Bob here.'],
    [tabs.carol, 'Carol joining in. Is this really browser to browser?'],
    [tabs.alice, 'Yes: direct WebRTC between our tabs, the relay only introduced us.'],
    [tabs.bob, 'And if I reload, nothing gets lost.'],
    [tabs.carol, 'Nice. Let me close my tab and see what happens.']
  ]
  for (const [page, text] of lines) {
    await say(page, text)
    roomLog.push(text)
  }
  for (const page of all) {
    await expect(texts(page)).toHaveText(roomLog, { timeout: 20_000 })
  }
  mark('all texts')
  // confirmed delivery: every own message reached both others
  await expect(tabs.alice.locator('#messages .msg.mine[data-status="delivered"] .status')).toHaveText(['Delivered to both', 'Delivered to both'], { timeout: 20_000 })
  for (const page of all) {
    await expect(page.locator('#messages .msg.mine:not([data-status="delivered"])')).toHaveCount(0, { timeout: 20_000 })
    await expect(page.locator('#pending')).toHaveText('0 pending')
  }

  mark('delivered')
  // the two other tabs are connected directly (WebRTC), not through the relay
  for (const page of all) {
    await expect(page.locator('#peer-list .badge[data-conn="direct"]')).toHaveCount(2, { timeout: 30_000 })
    await expect(page.locator('#peer-list .badge').first()).toHaveText('Direct · WebRTC')
  }
  await expect(peerRow(tabs.alice, 'Bob').locator('.badge')).toHaveText('Direct · WebRTC')
  await expect(peerRow(tabs.alice, 'Carol').locator('.badge')).toHaveText('Direct · WebRTC')

  mark('direct')
  // once, still: nothing arrives twice later
  await tabs.alice.waitForTimeout(1_000)
  for (const page of all) {
    await expect(texts(page)).toHaveText(roomLog)
  }

  const png = await shot(tabs.alice, testInfo, 'alice-room.png')
  // the README's picture: renewed on request only, so a test run leaves the tree clean
  if (process.env.UPDATE_DEMO_SCREENSHOT != null) writeFileSync(`${ROOT}docs/demo.png`, png)
  await shot(tabs.bob, testInfo, 'bob-room.png')
  await tabs.carol.setViewportSize({ width: 390, height: 760 })
  await shot(tabs.carol, testInfo, 'carol-phone.png')
  await tabs.carol.setViewportSize({ width: 1120, height: 720 })
})

test('a direct message reaches only its peer', async ({}, testInfo) => {
  const { alice, bob, carol } = tabs
  const secret = 'Psst Bob, this one is just for you.'
  await peerRow(alice, 'Bob').getByRole('button').click()
  await expect(alice.locator('#conv-title')).toHaveText('Bob')
  await expect(alice.getByRole('textbox', { name: 'Message Bob' })).toBeFocused()
  await say(alice, secret)
  mark('dm said')
  await expect(alice.locator('#messages .msg.mine .status')).toHaveText('Delivered', { timeout: 20_000 })

  mark('dm delivered')
  // Bob: an unread mark on Alice, the message in their conversation, not in the room
  await expect(peerRow(bob, 'Alice').locator('.unread')).toHaveText('1')
  await expect(texts(bob)).toHaveText(roomLog)
  await peerRow(bob, 'Alice').getByRole('button').click()
  await expect(texts(bob)).toHaveText([secret])
  await say(bob, 'Got it, thanks.')
  await expect(texts(alice)).toHaveText([secret, 'Got it, thanks.'], { timeout: 20_000 })

  mark('dm reply')
  // Carol: nothing, anywhere
  await expect(carol.locator('#messages .msg', { hasText: secret })).toHaveCount(0)
  await expect(carol.locator('#peer-list .unread:visible')).toHaveCount(0)
  await peerRow(carol, 'Alice').getByRole('button').click()
  await expect(carol.locator('#conv-title')).toHaveText('Alice')
  await expect(texts(carol)).toHaveCount(0)
  await carol.locator('#room-conv button').click()
  await expect(texts(carol)).toHaveText(roomLog)
  await shot(alice, testInfo, 'alice-direct.png')
})

test('a tab sends while its peer is reloading: the message appears after the reload, once', async ({}, testInfo) => {
  const { alice, bob } = tabs
  await alice.locator('#room-conv button').click()
  await bob.locator('#room-conv button').click()
  const bobId = await bob.locator('#settings').getAttribute('title')

  // hold the reloaded page's script back for a while: the old page is gone, the new one not yet connected
  const script = /\/main\.ts(\?|$)/
  await bob.route(script, async (route) => {
    await new Promise(resolve => setTimeout(resolve, 2_500))
    await route.continue()
  })
  const reloading = bob.reload()
  await expect(bob.locator('#intro')).toBeVisible()
  const text = 'Sent while Bob was reloading.'
  await say(alice, text)
  roomLog.push(text)
  await reloading
  mark('reloaded')
  await bob.unroute(script)

  // same identity, name and room, straight back into the chat (no join form)
  await expect(bob.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 })
  await expect(bob.locator('#settings')).toHaveAttribute('title', bobId ?? '')
  await expect(bob.locator('#room-name')).toHaveText(ROOM)
  mark('bob ready')
  // history kept, the new message added, in order, once
  await expect(texts(bob)).toHaveText(roomLog, { timeout: 30_000 })
  await expect(alice.locator('#messages .msg.mine', { hasText: text }).locator('.status')).toHaveText('Delivered to both', { timeout: 30_000 })
  mark('delivered after reload')
  await expect(alice.locator('#pending')).toHaveText('0 pending', { timeout: 20_000 })
  await bob.waitForTimeout(1_500)
  await expect(texts(bob)).toHaveText(roomLog)
  await expect(texts(tabs.carol)).toHaveText(roomLog)
  // connected again (the direct WebRTC upgrade after a reload can take 10-15 s: see test 1 for the badge)
  await expect(peerRow(bob, 'Alice').locator('.badge')).toHaveAttribute('data-conn', /^(direct|relayed)$/, { timeout: 30_000 })
  mark('bob direct again')
  await shot(bob, testInfo, 'bob-after-reload.png')
})

test('a closed tab leaves the peer list (shown offline)', async ({}, testInfo) => {
  const { alice, bob, carol } = tabs
  await carol.close()
  for (const page of [alice, bob]) {
    await expect(peerRow(page, 'Carol').locator('.badge')).toHaveText('Offline', { timeout: 25_000 })
    await expect(page.locator('#people-count')).toHaveText('1 online')
  }
  mark('carol offline')
  await shot(alice, testInfo, 'alice-carol-left.png')
})

test('the network goes: an offline banner, the message waits; it returns: the banner says so and the message arrives', async ({}, testInfo) => {
  const { alice, bob } = tabs
  await context.setOffline(true)
  await expect(alice.locator('#banner')).toBeVisible()
  await expect(alice.locator('#banner')).toContainText('You are offline')
  await expect(alice.locator('#net')).toHaveText('Offline')
  const text = 'Written while offline.'
  await say(alice, text)
  roomLog.push(text)
  await shot(alice, testInfo, 'alice-offline.png')
  mark('offline')
  await context.setOffline(false)
  await expect(alice.locator('#net')).toHaveText('Online', { timeout: 30_000 })
  await expect(alice.locator('#banner')).toContainText('Back online')
  mark('online again')
  await expect(texts(bob)).toHaveText(roomLog, { timeout: 30_000 })
  // Bob has it; Carol (closed, seen recently) will get it if she comes back: it stays queued for her
  await expect(alice.locator('#messages .msg.mine', { hasText: text }).locator('.status')).toHaveText('Delivered to 1 of 2', { timeout: 30_000 })
  await expect(alice.locator('#pending')).toHaveText('1 pending')
  await expect(alice.locator('#banner')).toBeHidden({ timeout: 10_000 })
  mark('delivered after offline')
})

test('a file sent in a direct message: progress on both sides, a download link at the other end with the same bytes, and chat keeps flowing', async ({}, testInfo) => {
  const { alice, bob } = tabs
  await peerRow(alice, 'Bob').getByRole('button').click()
  await expect(alice.locator('#conv-title')).toHaveText('Bob')
  // 3 MiB of a known pattern, chosen through the file input as a person would
  const bytes = Buffer.alloc(3 * 1024 * 1024)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff
  await alice.locator('#file-input').setInputFiles({ name: 'pattern.bin', mimeType: 'application/octet-stream', buffer: bytes })
  const mine = alice.locator('#files .file[data-direction="send"]', { hasText: 'pattern.bin' })
  await expect(mine).toBeVisible()
  // chat while the file goes
  await say(alice, 'Sending you a file.')
  const theirs = bob.locator('#files .file[data-direction="receive"]', { hasText: 'pattern.bin' })
  await expect(theirs).toBeVisible({ timeout: 20_000 })
  await expect(theirs).toHaveAttribute('data-state', 'done', { timeout: 60_000 })
  await expect(mine).toHaveAttribute('data-state', 'done', { timeout: 20_000 })
  await expect(mine.locator('progress')).toHaveJSProperty('value', bytes.length)
  const link = theirs.locator('a.file-link')
  await expect(link).toHaveAttribute('download', 'pattern.bin')
  const got = await bob.evaluate(async (href) => {
    const buf = new Uint8Array(await (await fetch(href)).arrayBuffer())
    let bad = -1
    for (let i = 0; i < buf.length; i++) if (buf[i] !== ((i * 31 + 7) & 0xff)) { bad = i; break }
    return { size: buf.length, bad }
  }, await link.getAttribute('href') as string)
  expect(got).toEqual({ size: bytes.length, bad: -1 })
  await peerRow(bob, 'Alice').getByRole('button').click()
  await expect(texts(bob).last()).toHaveText('Sending you a file.', { timeout: 20_000 })
  await shot(bob, testInfo, 'bob-file.png')
})
