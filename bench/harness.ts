/**
 * What the browser benchmarks share: Debian's Chromium (or Playwright's) with
 * the flags of playwright.config.ts, a Vite dev server for e2e/page on a free
 * port, child processes stopped cleanly, and small statistics.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { chromium, type Browser } from '@playwright/test'
import { RelayProcess } from '../e2e/relay-process.js'

export const ROOT = new URL('..', import.meta.url).pathname

export const EXECUTABLE = process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined)

/** The same flags as playwright.config.ts. */
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'
]

export async function launchChromium (extraArgs: string[] = []): Promise<Browser> {
  return await chromium.launch({ executablePath: EXECUTABLE, args: [...CHROMIUM_ARGS, ...extraArgs] })
}

/** `--name value` from the command line, or `dflt`. */
export function arg (name: string, dflt: string): string {
  const args = process.argv.slice(2)
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : dflt
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export function median (xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => { resolve(port) })
    })
  })
}

/** Serve e2e/page with Vite on `port`; resolves once `probe` (a page path) answers. */
export async function startVite (port: number, probe: string): Promise<ChildProcess> {
  const child = spawn(join(ROOT, 'node_modules/.bin/vite'), ['--config', 'e2e/vite.config.ts', '--port', String(port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (c: Buffer) => { output += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { output += c.toString() })
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode != null) throw new Error(`vite exited with ${child.exitCode}:\n${output}`)
    try {
      const res = await fetch(`http://127.0.0.1:${port}/${probe}`)
      if (res.ok) return child
    } catch {}
    await sleep(200)
  }
  child.kill('SIGKILL')
  throw new Error(`vite did not start:\n${output}`)
}

export async function stopChild (child: ChildProcess | undefined): Promise<void> {
  if (child == null || child.exitCode != null || child.signalCode != null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
  await exited
  clearTimeout(timer)
}

export async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([p, new Promise<T>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out: ${what}`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

export interface BenchSetup {
  browser: Browser
  /** the Vite server's base URL */
  base: string
  relay: RelayProcess
}

/**
 * Start a relay, Vite (ready once `probe` answers) and Chromium; run `body`;
 * stop all three afterwards, also on Ctrl-C.
 */
export async function withBrowserBench (probe: string, body: (setup: BenchSetup) => Promise<void>): Promise<void> {
  const relay = new RelayProcess()
  let vite: ChildProcess | undefined
  let browser: Browser | undefined
  const onSignal = (): void => {
    void Promise.allSettled([browser?.close(), stopChild(vite), relay.stop()]).then(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await relay.start()
    const port = await freePort()
    vite = await startVite(port, probe)
    browser = await launchChromium()
    await body({ browser, base: `http://127.0.0.1:${port}`, relay })
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await browser?.close().catch(() => {})
    await stopChild(vite)
    await relay.stop()
  }
}

/** Write a benchmark's figures as JSON (bench/results/ is not committed). */
export function writeResults (path: string, out: unknown): void {
  mkdirSync(dirname(resolve(ROOT, path)), { recursive: true })
  writeFileSync(resolve(ROOT, path), JSON.stringify(out, null, 2))
  console.log(`wrote ${path}`)
}
