/**
 * examples/browser, the browser quick start, exactly as a newcomer runs it:
 * the page served by Vite from examples/browser (importing the package by its
 * own name, i.e. the built dist/), the run's relay (e2e/global-setup.ts)
 * passed with ?relay=, two tabs. Each tab greets the other when it joins, and
 * a message typed into one shows up in the other.
 */
import { execFileSync } from 'node:child_process'
import { createServer as createNetServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { test, expect, type BrowserContext, type Page } from '@playwright/test'
import { createServer, type ViteDevServer } from 'vite'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

let server: ViteDevServer | undefined
let context: BrowserContext | undefined
let pageUrl = ''

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

/** Open the quick start in a new tab; returns the tab and the short id it shows for itself. */
async function open (ctx: BrowserContext): Promise<{ page: Page, me: string }> {
  const page = await ctx.newPage()
  page.on('pageerror', (err) => { console.error('[quick start page error]', err.message) })
  await page.goto(pageUrl)
  const status = page.locator('#status')
  await expect(status).toHaveText(/^I am …/, { timeout: 30_000 })
  const me = /^I am …(\S+),/.exec(await status.innerText())?.[1]
  if (me == null) throw new Error(`no id in the status line: ${await status.innerText()}`)
  return { page, me }
}

test.beforeAll(async () => {
  const relay = process.env.E2E_RELAY
  if (relay == null) throw new Error('E2E_RELAY is not set (e2e/global-setup.ts starts the relay)')
  // the example imports the package by its name: the built dist/ (as after `npm ci`, which builds)
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' })
  const port = await freePort()
  server = await createServer({
    configFile: false,
    root: `${ROOT}examples/browser`,
    cacheDir: `${ROOT}node_modules/.vite-examples`,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false },
    logLevel: 'warn',
    clearScreen: false
  })
  await server.listen()
  pageUrl = `http://127.0.0.1:${port}/?relay=${encodeURIComponent(relay)}`
})

test.afterAll(async () => {
  await context?.close()
  await server?.close()
})

test('two tabs of the browser quick start greet each other and exchange a typed message', async ({ browser }) => {
  context = await browser.newContext()
  // hosts with only a loopback interface gather ICE candidates only once a media
  // permission was granted (with the fake-media flags of the config): the harness's part, not the page's
  await context.addInitScript(() => {
    void navigator.mediaDevices?.getUserMedia({ audio: true }).then((s) => { for (const t of s.getTracks()) t.stop() }).catch(() => {})
  })
  const a = await open(context)
  const b = await open(context)
  expect(a.me).not.toBe(b.me)

  await expect(a.page.locator('#messages li')).toHaveText([`${b.me}: hello from ${b.me}`], { timeout: 30_000 })
  await expect(b.page.locator('#messages li')).toHaveText([`${a.me}: hello from ${a.me}`], { timeout: 30_000 })

  const box = a.page.getByRole('textbox', { name: 'Message' })
  await box.fill('typed in tab A')
  await box.press('Enter')
  await expect(b.page.locator('#messages li')).toHaveText([`${a.me}: hello from ${a.me}`, `${a.me}: typed in tab A`], { timeout: 20_000 })
  await expect(a.page.locator('#messages li')).toHaveText([`${b.me}: hello from ${b.me}`, `${a.me}: typed in tab A`])
})
