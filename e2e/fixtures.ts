/**
 * Tabs running the test page, each with a started node and messenger.
 */
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test'

export interface TabOptions {
  relays?: string[]
  room?: string
  /** make WebRTC impossible for this tab (see blockWebRTC()); handled here, before the page loads */
  blockWebRTC?: boolean
  webrtc?: boolean
  delivery?: 'default' | 'confirmed'
  protocol?: string
  persist?: boolean
  queueTtl?: number
  /** count received messages per sender instead of keeping them: see harness.tally() */
  tally?: boolean
  /** file transfers, incoming chunks in memory or IndexedDB (offers accepted) */
  transfers?: 'memory' | 'idb'
  transferWindow?: number
  chunkSize?: number
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
      if (options.blockWebRTC === true) await blockWebRTC(page)
      page.on('pageerror', (err) => { console.error('[page error]', err.message) })
      // E2E_CONSOLE=1 shows what the pages log (with localStorage.debug, the SDK's logs too)
      if (process.env.E2E_CONSOLE === '1') page.on('console', (msg) => { console.info(`[page ${pages.indexOf(page)}] ${msg.text()}`) })
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

/**
 * Count RTCPeerConnections and RTCDataChannels in every page of `context`
 * opened after this call (`window.harness.rtc()`). It must run before the
 * page's scripts: @libp2p/webrtc takes `globalThis.RTCPeerConnection` when its
 * module loads, so a wrapper installed later is never used.
 */
export async function instrumentRTC (context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const Native = globalThis.RTCPeerConnection
    if (Native == null || (globalThis as any).__rtc != null) return
    interface Rec { closed: boolean, channels: Set<RTCDataChannel> }
    const counters = {
      created: 0,
      live: 0,
      maxLive: 0,
      dcCreated: 0,
      dcOpen: 0,
      maxDcOpen: 0,
      snapshot: () => {
        const states: Record<string, number> = {}
        let dcOpen = 0
        for (const [pc, rec] of records) {
          states[pc.connectionState] = (states[pc.connectionState] ?? 0) + 1
          for (const dc of rec.channels) if (dc.readyState === 'open') dcOpen++
        }
        return { live: records.size, dcOpen, states }
      }
    }
    // only connections not closed yet (and their channels) are held
    const records = new Map<RTCPeerConnection, Rec>()
    const channelState = new WeakMap<RTCDataChannel, { opened: boolean, done: boolean }>()
    const channelClosed = (dc: RTCDataChannel, rec: Rec): void => {
      const st = channelState.get(dc)
      if (st == null || st.done) return
      st.done = true
      if (st.opened) counters.dcOpen--
      rec.channels.delete(dc)
    }
    const track = (dc: RTCDataChannel, rec: Rec | undefined): void => {
      if (rec == null || channelState.has(dc)) return
      counters.dcCreated++
      const st = { opened: false, done: false }
      channelState.set(dc, st)
      rec.channels.add(dc)
      const opened = (): void => {
        if (st.opened || st.done) return
        st.opened = true
        counters.dcOpen++
        counters.maxDcOpen = Math.max(counters.maxDcOpen, counters.dcOpen)
      }
      if (dc.readyState === 'open') opened()
      dc.addEventListener('open', opened)
      dc.addEventListener('close', () => { channelClosed(dc, rec) })
    }
    const pcClosed = (pc: RTCPeerConnection): void => {
      const rec = records.get(pc)
      if (rec == null || rec.closed) return
      rec.closed = true
      records.delete(pc)
      counters.live--
      // close() does not fire 'close' on the connection's channels
      for (const dc of [...rec.channels]) channelClosed(dc, rec)
    }
    class CountedPeerConnection extends Native {
      constructor (config?: RTCConfiguration) {
        super(config)
        records.set(this, { closed: false, channels: new Set() })
        counters.created++
        counters.live++
        counters.maxLive = Math.max(counters.maxLive, counters.live)
        this.addEventListener('connectionstatechange', () => { if (this.connectionState === 'closed') pcClosed(this) })
        this.addEventListener('datachannel', (e) => { track(e.channel, records.get(this)) })
      }

      override createDataChannel (label: string, init?: RTCDataChannelInit): RTCDataChannel {
        const dc = super.createDataChannel(label, init)
        track(dc, records.get(this))
        return dc
      }

      override close (): void {
        super.close()
        pcClosed(this)
      }
    }
    globalThis.RTCPeerConnection = CountedPeerConnection as typeof RTCPeerConnection;
    (globalThis as any).__rtc = counters
  })
}

/**
 * Make WebRTC impossible in `target` (a page, or every page of a context)
 * from its next load on, as behind a NAT that no STUN can traverse: ICE gets
 * no servers and the 'relay' policy, so it finds no usable candidate. It must
 * run before the page's scripts: @libp2p/webrtc takes
 * `globalThis.RTCPeerConnection` when its module loads, so a replacement made
 * later blocks nothing.
 */
export async function blockWebRTC (target: Page | BrowserContext): Promise<void> {
  await target.addInitScript(() => {
    const Native = globalThis.RTCPeerConnection
    if (Native == null) return
    globalThis.RTCPeerConnection = class extends Native {
      constructor (config?: RTCConfiguration) { super({ ...config, iceServers: [], iceTransportPolicy: 'relay' }) }
    } as typeof RTCPeerConnection
  })
}

/** Print what each tab knows (peers, connections, lanes, events): call when a wait timed out. */
export async function diagnose (tabs: Tab[]): Promise<void> {
  for (const [i, t] of tabs.entries()) {
    if (t.page.isClosed()) continue
    const d = await t.page.evaluate(() => ({
      peers: window.harness.peers(),
      pending: window.harness.pending(),
      outLanes: window.harness.outLanes(),
      inLanes: window.harness.lanes(),
      connections: window.harness.connections(),
      relays: window.harness.relayStatus(),
      errors: window.harness.errors().slice(-10),
      drops: window.harness.drops(),
      joins: window.harness.joins().length,
      leaves: window.harness.leaves().length
    })).catch((err: Error) => ({ unavailable: err.message }))
    console.info(`[diagnose] tab ${i} ${t.id}: ${JSON.stringify(d, null, 1)}`)
  }
}

/**
 * What a persisted tab's application took (its journal in localStorage), read
 * while the tab may be reloading: an empty list until the page answers.
 */
export async function journal (tab: Tab): Promise<string[]> {
  return await tab.page.evaluate(() => window.harness.journal()).catch(() => [])
}

/** Poll `read` until `done` holds for its result; throws naming `what` after `ms`. */
export async function until<T> (read: () => Promise<T>, done: (value: T) => boolean, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/**
 * Force the @libp2p/webrtc dial race in `target` from its next load on: the
 * dialing side's `init` data channel never reports `open`, so every WebRTC
 * dial this page starts hangs until its signal gives up, while the other side
 * (which answered) sees a connected RTCPeerConnection and a direct libp2p
 * connection. It must run before the page's scripts (see blockWebRTC()).
 */
export async function hangWebRTCDials (target: Page | BrowserContext): Promise<void> {
  await target.addInitScript(() => {
    const Native = globalThis.RTCPeerConnection
    if (Native == null) return
    globalThis.RTCPeerConnection = class extends Native {
      override createDataChannel (label: string, init?: RTCDataChannelInit): RTCDataChannel {
        const channel = super.createDataChannel(label, init)
        if (label !== 'init') return channel
        const add = channel.addEventListener.bind(channel)
        Object.defineProperty(channel, 'readyState', { get: () => 'connecting' })
        channel.addEventListener = ((type: string, listener: any, options?: any) => {
          if (type !== 'open') add(type, listener, options)
        }) as typeof channel.addEventListener
        return channel
      }
    } as typeof RTCPeerConnection
  })
}
