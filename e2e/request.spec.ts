/**
 * Request/response in Chromium, both wire modes, between tabs over direct
 * WebRTC (and one tab without WebRTC, over the relay): typed round trips,
 * timeouts and cancellation reaching the handler, remote errors, size limits
 * both ways, 1,000 concurrent requests, a peer answering garbage, and a
 * connection dropped in the middle of requests. Every request settles; the
 * counts are exact.
 */
import { test, expect, type Page } from '@playwright/test'
import type { Outcome } from './page/request.js'

type Mode = 'multiplexed' | 'stream'
const MODES: Mode[] = ['multiplexed', 'stream']

test.describe.configure({ mode: 'serial' })

let pages: Page[] = []
let A: Page
let B: Page
let C: Page
let idA: string
let idB: string
let idC: string

async function open (page: Page, room: string, webrtc = true): Promise<string> {
  page.on('pageerror', (err) => { console.error('[page error]', err.message) })
  await page.goto('/request.html')
  return page.evaluate(async (o) => window.rr.start(o), { relays: [process.env.E2E_RELAY as string], room, webrtc })
}

/** Wait until `page` reaches `peer` over a connection of `kind`. */
async function reach (page: Page, peer: string, kind: 'direct' | 'relayed'): Promise<void> {
  await page.waitForFunction(([p, k]) => window.rr.connection(p) === k, [peer, kind] as const, { timeout: 30_000 })
}

/**
 * Wait until B's handler has `hanging` requests waiting and, if `aborted` is
 * given, exactly that many handler signals aborted (RequestAbortedError) and
 * no handler running.
 */
async function handlerAtB (want: { hanging: number, aborted?: number }): Promise<void> {
  await B.waitForFunction((w) => {
    const h = window.rr.handled()
    return h.hanging === w.hanging && (w.aborted == null || ((h.aborts.RequestAbortedError ?? 0) === w.aborted && h.handling === 0))
  }, want, { timeout: 20_000, polling: 50 })
}

test.beforeAll(async ({ browser }) => {
  const context = await browser.newContext()
  pages = await Promise.all([context.newPage(), context.newPage(), context.newPage()])
  ;[A, B, C] = pages
  const room = `rr-${Math.random().toString(36).slice(2)}`
  ;[idA, idB, idC] = await Promise.all([open(A, room), open(B, room), open(C, room, false)])
  await reach(A, idB, 'direct')
  await reach(B, idA, 'direct')
  await reach(A, idC, 'relayed')
})

test.afterAll(async () => {
  for (const page of pages) await page.evaluate(async () => window.rr.stop()).catch(() => {})
  await pages[0]?.context().close()
})

test('typed round trips over direct WebRTC, both modes; the handler sees the caller', { tag: ['@firefox', '@firefox-core'] }, async () => {
  for (const mode of MODES) {
    const { sums, echo } = await A.evaluate(async ([p, m]) => window.rr.roundTrip(p, m as Mode, 20), [idB, mode] as const)
    expect(sums).toEqual(Array.from({ length: 20 }, (_, i) => i + 1000))
    expect(echo).toEqual({ text: 'HÉLLO, WÖRLD', from: idA })
  }
  expect(await A.evaluate((p) => window.rr.connection(p), idB)).toBe('direct')
})

test('a handler that never answers ends in the caller\'s timeout, and its signal aborts', { tag: '@firefox' }, async () => {
  for (const mode of MODES) {
    await B.evaluate(() => { window.rr.resetHandled() })
    await A.evaluate(([p, m, t]) => { window.rr.startHanging(p, m as Mode, 3, t, 500) }, [idB, mode, `timeout-${mode}`] as const)
    expect(await A.evaluate(async (t) => window.rr.settled(t), `timeout-${mode}`)).toEqual({ RequestTimeoutError: 3 })
    await handlerAtB({ hanging: 0, aborted: 3 })
    expect(await A.evaluate(() => window.rr.pending())).toEqual({ multiplexed: 0, stream: 0 })
  }
})

test('cancellation by AbortSignal: the caller rejects at once, the handler\'s signal aborts', { tag: '@firefox' }, async () => {
  for (const mode of MODES) {
    await B.evaluate(() => { window.rr.resetHandled() })
    await A.evaluate(([p, m, t]) => { window.rr.startHanging(p, m as Mode, 5, t) }, [idB, mode, `cancel-${mode}`] as const)
    await handlerAtB({ hanging: 5 })
    await A.evaluate((t) => { window.rr.abortHanging(t) }, `cancel-${mode}`)
    expect(await A.evaluate(async (t) => window.rr.settled(t), `cancel-${mode}`)).toEqual({ AbortError: 5 })
    await handlerAtB({ hanging: 0, aborted: 5 })
  }
})

test('a handler\'s error reaches the caller as RemoteError with its message and code', { tag: '@firefox' }, async () => {
  for (const mode of MODES) {
    const coded: Outcome = await A.evaluate(async ([p, m]) => window.rr.request(p, m as Mode, { op: 'fail', message: 'no such thing', code: 'ERR_NOT_FOUND' }), [idB, mode] as const)
    expect(coded).toEqual({ error: { name: 'RemoteError', message: 'no such thing', code: 'ERR_NOT_FOUND' } })
    const plain: Outcome = await A.evaluate(async ([p, m]) => window.rr.request(p, m as Mode, { op: 'fail', message: 'boom' }), [idB, mode] as const)
    expect(plain).toEqual({ error: { name: 'RemoteError', message: 'boom', code: 'ERR_REMOTE' } })
  }
})

test('oversized requests and responses fail with a clear error; the next request works', { tag: '@firefox' }, async () => {
  const limits = await A.evaluate(() => window.rr.limits())
  for (const mode of MODES) {
    const req = async (body: unknown): Promise<Outcome> => A.evaluate(async ([p, m, b]) => window.rr.request(p, m as Mode, b as any), [idB, mode, body] as const)
    // over the caller's own limit: refused before sending
    expect((await req({ op: 'pad', pad: 'x'.repeat(limits.CLIENT_MAX_REQUEST) })) as any).toMatchObject({ error: { name: 'MessageTooLargeError' } })
    // within the caller's, over the handler's: refused there, unread
    expect(await req({ op: 'pad', pad: 'x'.repeat(limits.SERVER_MAX_REQUEST) })).toMatchObject({ error: { name: 'RemoteError', code: 'ERR_REQUEST_TOO_LARGE' } })
    // a response over the handler's limit
    expect(await req({ op: 'size', n: limits.SERVER_MAX_RESPONSE })).toMatchObject({ error: { name: 'RemoteError', code: 'ERR_RESPONSE_TOO_LARGE' } })
    // a response within the handler's limit, over the caller's: skipped unread
    expect(await req({ op: 'size', n: limits.CLIENT_MAX_RESPONSE })).toMatchObject({ error: { name: 'FrameTooLargeError' } })
    // and the peer is still served
    expect(await req({ op: 'size', n: 1000 })).toEqual({ ok: { data: 'x'.repeat(1000) } })
  }
})

test('1,000 concurrent requests each get their own response, within the handler\'s limit', { tag: '@firefox' }, async () => {
  for (const mode of MODES) {
    await B.evaluate(() => { window.rr.resetHandled() })
    const r = await A.evaluate(async ([p, m]) => window.rr.concurrent(p, m as Mode, 1000), [idB, mode] as const)
    expect(r).toEqual({ tally: { ok: 1000 }, wrong: 0, pending: 0 })
    const h = await B.evaluate(() => window.rr.handled())
    expect(h.maxRunning).toBeLessThanOrEqual(64)
    expect(h.handling).toBe(0)
  }
})

test('a peer answering garbage or a wrong reply fails the request with ProtocolError', { tag: '@firefox' }, async () => {
  for (const mode of MODES) {
    for (const kind of ['garbage', 'wrong'] as const) {
      const r: Outcome = await A.evaluate(async ([p, m, k]) => window.rr.badRequest(p, m as Mode, k as 'garbage' | 'wrong'), [idB, mode, kind] as const)
      expect(r).toMatchObject({ error: { name: 'ProtocolError' } })
    }
  }
})

test('works over a relayed connection (a tab without WebRTC), both modes', { tag: '@firefox' }, async () => {
  for (const mode of MODES) {
    const { sums, echo } = await A.evaluate(async ([p, m]) => window.rr.roundTrip(p, m as Mode, 5), [idC, mode] as const)
    expect(sums).toEqual([1000, 1001, 1002, 1003, 1004])
    expect(echo).toEqual({ text: 'HÉLLO, WÖRLD', from: idA })
    const back = await C.evaluate(async ([p, m]) => window.rr.roundTrip(p, m as Mode, 1), [idA, mode] as const)
    expect(back.echo).toEqual({ text: 'HÉLLO, WÖRLD', from: idC })
  }
  expect(await A.evaluate((p) => window.rr.connection(p), idC)).toBe('relayed')
})

test('the connection dropping in the middle of requests fails each one; none hangs; the next request reconnects', { tag: '@firefox' }, async () => {
  for (const mode of MODES) {
    await B.evaluate(() => { window.rr.resetHandled() })
    await A.evaluate(([p, m, t]) => { window.rr.startHanging(p, m as Mode, 50, t) }, [idB, mode, `drop-${mode}`] as const)
    await handlerAtB({ hanging: 50 })
    expect(await A.evaluate((p) => window.rr.dropConnections(p), idB)).toBeGreaterThan(0)
    expect(await A.evaluate(async (t) => window.rr.settled(t), `drop-${mode}`)).toEqual({ RequestAbortedError: 50 })
    expect(await A.evaluate(() => window.rr.pending())).toEqual({ multiplexed: 0, stream: 0 })
    // the handler side notices too: every handler's signal aborts
    await handlerAtB({ hanging: 0, aborted: 50 })
    const next: Outcome = await A.evaluate(async ([p, m]) => window.rr.request(p, m as Mode, { op: 'add', a: 1, b: 2 }, 20_000), [idB, mode] as const)
    expect(next).toEqual({ ok: { sum: 3 } })
  }
  expect(await B.evaluate(() => window.rr.handled().errors)).toEqual([])
})
