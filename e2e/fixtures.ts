/**
 * Tabs running the test page, each with a started node and messenger.
 */
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test'

export interface TabOptions {
  relays?: string[]
  room?: string
  blockWebRTC?: boolean
  webrtc?: boolean
  delivery?: 'default' | 'confirmed'
  protocol?: string
  persist?: boolean
  queueTtl?: number
}

export interface Tab {
  page: Page
  id: string
}

type Fixtures = {
  relay: string
  /** A new tab in the shared context (or in `context` if given), started. */
  openTab: (options?: TabOptions, context?: BrowserContext) => Promise<Tab>
  /** Reload a tab and start it again with the same options; returns its (new or same) id. */
  reloadTab: (tab: Tab, options?: TabOptions) => Promise<Tab>
}

export const test = base.extend<Fixtures>({
  relay: async ({}, use) => { await use(process.env.E2E_RELAY as string) },
  openTab: async ({ context, relay }, use) => {
    const pages: Page[] = []
    await use(async (options = {}, ctx = context) => {
      const page = await ctx.newPage()
      pages.push(page)
      page.on('pageerror', (err) => { console.error('[page error]', err.message) })
      await page.goto('/index.html')
      const id = await page.evaluate(async (opts) => window.harness.start(opts), { relays: [relay], ...options })
      return { page, id }
    })
    for (const page of pages) {
      if (!page.isClosed()) await page.evaluate(async () => window.harness.stop()).catch(() => {})
    }
  },
  reloadTab: async ({ relay }, use) => {
    await use(async (tab, options = {}) => {
      await tab.page.reload()
      const id = await tab.page.evaluate(async (opts) => window.harness.start(opts), { relays: [relay], ...options })
      return { page: tab.page, id }
    })
  }
})

export { expect }

/** Wait until every tab's messenger lists every other tab as a peer. */
export async function allConnected (tabs: Tab[], timeout = 30_000): Promise<void> {
  for (const tab of tabs) {
    const others = tabs.filter(t => t !== tab).map(t => t.id)
    await tab.page.waitForFunction((ids) => ids.every(id => window.harness.peers().includes(id)), others, { timeout })
  }
}

/** Wait until `tab` has received `count` messages from `from` (or from anyone). */
export async function waitForCount (tab: Tab, count: number, from?: string, timeout = 60_000): Promise<void> {
  await tab.page.waitForFunction(([n, f]) => window.harness.receivedCount(f as string | undefined) >= (n as number), [count, from] as const, { timeout, polling: 100 })
}
