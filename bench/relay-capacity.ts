/**
 * Relay capacity (issue 3): how many reserved peers one relay holds, and its
 * memory per reservation.
 *
 * The relay (createRelay from relay/server.ts, the same code the CLI runs)
 * lives in a child process of its own, so its memory is its own; it answers
 * "stats" over IPC after a forced GC. Node clients (webSockets +
 * circuitRelayTransport, noise, yamux, identify, ping, and the browser
 * preset's 3 s connection pings) run in worker processes and ramp up in steps;
 * at each step the relay's RSS and heap are recorded. At full load a new
 * client must still get a reservation, and a relayed connection to one of the
 * reserved clients must carry an echo; then the relay is held at full load
 * for a while (reservations kept? CPU?), the clients are killed, and the relay
 * must release every reservation.
 *
 *   node --import tsx bench/relay-capacity.ts [--target 1000] [--step 250]
 *     [--workers 2] [--hold 15] [--json bench/results/relay-capacity.json]
 */
import '../src/util/polyfill.js'
import '../relay/node-websocket.js'
import { fork, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, resolve } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p, Stream } from '@libp2p/interface'

const SELF = new URL(import.meta.url).pathname
const ROOT = new URL('..', import.meta.url).pathname
const args = process.argv.slice(2)
const arg = (name: string, dflt: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt }
const ECHO = '/bench/echo/1.0.0'
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024 * 10) / 10

// ------------------------------------------------------------------ client nodes

/** A client like the browser preset, minus WebRTC and rooms: reserves a slot on the relay it dials. */
async function createClient (relayAddr: string): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ['/p2p-circuit'] },
    transports: [webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // the browser preset pings every connection every 3 s (DEFAULT_PING_INTERVAL)
    connectionMonitor: { pingInterval: 3_000, pingTimeout: { minTimeout: 2_000, maxTimeout: 10_000 } },
    services: { identify: identify(), ping: ping() }
  })
  await node.handle(ECHO, (stream: Stream) => {
    stream.addEventListener('message', (evt) => { stream.send(evt.data) })
    stream.addEventListener('remoteCloseWrite', () => { stream.close().catch(() => {}) })
  }, { runOnLimitedConnection: true })
  const reserved = new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (node.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit'))) {
        node.removeEventListener('self:peer:update', check)
        clearTimeout(timer)
        resolve()
      }
    }
    const timer = setTimeout(() => { node.removeEventListener('self:peer:update', check); reject(new Error('no reservation within 30 s')) }, 30_000)
    node.addEventListener('self:peer:update', check)
  })
  reserved.catch(() => {}) // awaited below; a failed dial must not leave it unhandled
  try {
    await node.dial(multiaddr(relayAddr), { signal: AbortSignal.timeout(30_000) })
    await reserved
  } catch (err) {
    await Promise.resolve(node.stop()).catch(() => {})
    throw err
  }
  return node
}

/** Worker process: grows its set of reserved clients when told to. */
async function clientWorker (): Promise<void> {
  const relayAddr = arg('relay', '')
  const concurrency = Number(arg('concurrency', '16'))
  const nodes: Libp2p[] = []
  let failed = 0
  const errors = new Map<string, number>()
  const send = (msg: unknown): void => { process.send?.(msg) }
  // a stray rejection inside a library must not take the other clients down
  process.on('unhandledRejection', (err: any) => {
    const key = `unhandled: ${String(err?.message ?? err).slice(0, 100)}`
    errors.set(key, (errors.get(key) ?? 0) + 1)
  })
  process.on('message', (msg: any) => {
    if (msg.type === 'grow') {
      void (async () => {
        const t0 = Date.now()
        let next = nodes.length
        const runners = Array.from({ length: concurrency }, async () => {
          while (next < msg.to) {
            next++
            try {
              nodes.push(await createClient(relayAddr))
            } catch (err: any) {
              failed++
              next-- // try again, within the failure budget
              const key = String(err?.message ?? err).slice(0, 120)
              errors.set(key, (errors.get(key) ?? 0) + 1)
              if (failed > msg.to) throw new Error(`too many failures: ${[...errors].join('; ')}`)
            }
          }
        })
        try {
          await Promise.all(runners)
          send({ type: 'grown', clients: nodes.length, failed, ms: Date.now() - t0, errors: Object.fromEntries(errors) })
        } catch (err: any) {
          send({ type: 'grown', clients: nodes.length, failed, ms: Date.now() - t0, errors: Object.fromEntries(errors), error: err.message })
        }
      })()
    } else if (msg.type === 'status') {
      // clients still holding a reservation (a relay address of their own)
      const reserved = nodes.filter(n => n.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit'))).length
      const connected = nodes.filter(n => n.getConnections().length > 0).length
      send({ type: 'status', clients: nodes.length, reserved, connected, target: nodes[0]?.peerId.toString() })
    }
  })
  send({ type: 'ready' })
}

// ------------------------------------------------------------------ relay child

async function relayChild (): Promise<void> {
  const { createRelay } = await import('../relay/server.js')
  const relay = await createRelay({
    host: '127.0.0.1',
    port: 0,
    healthPort: 0,
    maxReservations: Number(arg('max-reservations', '2048')),
    maxConnections: Number(arg('max-connections', '4096'))
  })
  const gc = (globalThis as any).gc as (() => void) | undefined
  process.on('message', (msg: any) => {
    if (msg.type === 'stats') {
      if (msg.gc === true && gc != null) { gc(); gc() }
      const m = process.memoryUsage()
      process.send?.({ type: 'stats', ...relay.status(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers })
    } else if (msg.type === 'stop') {
      void relay.stop().then(() => process.exit(0))
    }
  })
  process.send?.({ type: 'ready', address: relay.multiaddrs.map(String).find(a => a.includes('/ws')), health: relay.healthUrl, pid: process.pid })
}

// ------------------------------------------------------------------ parent

/** Request/response over a child's IPC channel: the next message of `type`. */
async function ask<T = any> (child: ChildProcess, msg: Record<string, unknown>, type: string, timeout = 300_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => { clearTimeout(timer); child.off('message', on); child.off('exit', exited) }
    const timer = setTimeout(() => { done(); reject(new Error(`no ${type} reply within ${timeout} ms`)) }, timeout)
    const on = (reply: any): void => {
      if (reply?.type === type) {
        done()
        resolve(reply as T)
      }
    }
    const exited = (code: number | null): void => { done(); reject(new Error(`child exited (${code}) before its ${type} reply`)) }
    child.on('message', on)
    child.on('exit', exited)
    if (Object.keys(msg).length > 0) child.send(msg)
  })
}

/** CPU time (user + system) of a process, in ms, from /proc. */
function cpuMs (pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return 0
  }
}

async function parent (): Promise<void> {
  const TARGET = Number(arg('target', '1000'))
  const STEP = Number(arg('step', '250'))
  const WORKERS = Number(arg('workers', '2'))
  const HOLD = Number(arg('hold', '15'))
  const JSON_OUT = arg('json', 'bench/results/relay-capacity.json')
  const started = Date.now()
  const load = loadavg()[0]
  if (load > cpus().length) console.log(`note: load average ${load.toFixed(1)} on ${cpus().length} cores before the start: other work is running, figures will be noisy`)

  const children: ChildProcess[] = []
  const cleanup = (): void => { for (const c of children) { if (c.exitCode == null) c.kill('SIGKILL') } }
  process.once('exit', cleanup)
  process.once('SIGINT', () => { cleanup(); process.exit(130) })

  const relay = fork(SELF, ['--relay-child', '--max-reservations', String(Math.max(2048, TARGET * 2)), '--max-connections', String(Math.max(4096, TARGET * 3))], { execArgv: ['--import', 'tsx', '--expose-gc'], cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  children.push(relay)
  const info = await ask<{ address: string, health: string, pid: number }>(relay, {}, 'ready', 60_000)
  const stats = async (gc = true): Promise<any> => ask(relay, { type: 'stats', gc }, 'stats', 60_000)
  // settle, then the baseline
  await sleep(1000)
  const base = await stats()
  const curve: any[] = [{ reservations: base.reservations, connections: base.connections, rssMB: mb(base.rss), heapUsedMB: mb(base.heapUsed), externalMB: mb(base.external), arrayBuffersMB: mb(base.arrayBuffers) }]

  const workers: ChildProcess[] = []
  for (let i = 0; i < WORKERS; i++) {
    const w = fork(SELF, ['--client-worker', '--relay', info.address, '--concurrency', arg('concurrency', '16')], { execArgv: ['--import', 'tsx', '--max-old-space-size=8192'], cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.push(w)
    workers.push(w)
  }
  await Promise.all(workers.map(async w => ask(w, {}, 'ready', 60_000)))

  let failures = 0
  const workerErrors: Record<string, number> = {}
  let reached = 0
  for (let total = Math.min(STEP, TARGET); ; total = Math.min(total + STEP, TARGET)) {
    const t0 = Date.now()
    const per = workers.map((_, i) => Math.floor(total / WORKERS) + (i < total % WORKERS ? 1 : 0))
    const grown = await Promise.all(workers.map(async (w, i) => ask(w, { type: 'grow', to: per[i] }, 'grown')))
    for (const g of grown) {
      failures += g.failed
      for (const [k, v] of Object.entries(g.errors ?? {})) workerErrors[k] = (workerErrors[k] ?? 0) + (v as number)
    }
    const stopped = grown.find(g => g.error != null)
    await sleep(500)
    const s = await stats()
    reached = s.reservations
    curve.push({ reservations: s.reservations, connections: s.connections, rssMB: mb(s.rss), heapUsedMB: mb(s.heapUsed), externalMB: mb(s.external), arrayBuffersMB: mb(s.arrayBuffers), rampSeconds: Math.round((Date.now() - t0) / 100) / 10 })
    const stepFailures = grown.reduce((n, g) => n + g.failed, 0)
    console.log(`  ${s.reservations} reservations, ${s.connections} connections: relay RSS ${mb(s.rss)} MB, heap ${mb(s.heapUsed)} MB (${((Date.now() - t0) / 1000).toFixed(1)} s for this step${stepFailures > 0 ? `, ${stepFailures} client attempts failed so far` : ''})`)
    if (stepFailures > 0) console.log(`  client errors: ${JSON.stringify(workerErrors)}`)
    if (stopped != null) { console.log(`  a worker gave up: ${stopped.error}`); break }
    if (total >= TARGET) break
  }

  // --- at full load: a new reservation, and a relayed connection to a reserved client
  const probeT0 = Date.now()
  let probe: Libp2p | undefined
  let newReservationMs: number | undefined
  let relayedEchoMs: number | undefined
  let probeError: string | undefined
  try {
    probe = await createClient(info.address)
    newReservationMs = Date.now() - probeT0
    const { target } = await ask(workers[0], { type: 'status' }, 'status')
    const t1 = Date.now()
    const conn = await probe.dial(multiaddr(`${info.address}/p2p-circuit/p2p/${target}`), { signal: AbortSignal.timeout(30_000) })
    const stream = await conn.newStream(ECHO, { runOnLimitedConnection: true, signal: AbortSignal.timeout(30_000) })
    const payload = crypto.getRandomValues(new Uint8Array(1024))
    const echoed = new Promise<void>((resolve, reject) => {
      let got = 0
      const timer = setTimeout(() => { reject(new Error('no echo within 30 s')) }, 30_000)
      stream.addEventListener('message', (evt) => { got += evt.data.byteLength; if (got >= payload.byteLength) { clearTimeout(timer); resolve() } })
    })
    stream.send(payload)
    await echoed
    relayedEchoMs = Date.now() - t1
    await stream.close().catch(() => {})
    await conn.close().catch(() => {})
  } catch (err: any) {
    probeError = err?.message ?? String(err)
  }

  // --- hold at full load: do reservations survive, what does the relay spend?
  const healthMs: number[] = []
  const cpu0 = cpuMs(info.pid)
  const hold0 = Date.now()
  let minReservations = Infinity
  while (Date.now() - hold0 < HOLD * 1000) {
    const h0 = performance.now()
    try {
      const res = await fetch(info.health)
      const body = await res.json() as { reservations: number }
      minReservations = Math.min(minReservations, body.reservations)
      healthMs.push(performance.now() - h0)
    } catch {}
    await sleep(1000)
  }
  const holdCpuPct = Math.round(100 * (cpuMs(info.pid) - cpu0) / (Date.now() - hold0))
  const statuses = await Promise.all(workers.map(async w => ask(w, { type: 'status' }, 'status')))
  const clientsReserved = statuses.reduce((n, s) => n + s.reserved, 0)
  const full = await stats()

  // --- clients vanish (killed, no goodbye): the relay must free every slot
  if (probe != null) await Promise.resolve(probe.stop()).catch(() => {})
  for (const w of workers) w.kill('SIGKILL')
  const gone0 = Date.now()
  let after = await stats(false)
  while (after.reservations > 0 && Date.now() - gone0 < 30_000) {
    await sleep(500)
    after = await stats(false)
  }
  const releasedMs = Date.now() - gone0
  await sleep(2000)
  after = await stats()
  relay.send({ type: 'stop' })
  await new Promise(resolve => { relay.once('exit', resolve); setTimeout(resolve, 15_000) })

  // memory per reservation: least-squares slope over the ramp, and end-to-end
  const slope = (key: string): number => {
    const pts = curve.map(c => [c.reservations, c[key]])
    const n = pts.length
    const mx = pts.reduce((s, p) => s + p[0], 0) / n
    const my = pts.reduce((s, p) => s + p[1], 0) / n
    const num = pts.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0)
    const den = pts.reduce((s, p) => s + (p[0] - mx) ** 2, 0)
    return den === 0 ? 0 : num / den * 1024 // KB per reservation
  }
  const n = full.reservations
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    loadAverageAtStart: +load.toFixed(2),
    target: TARGET,
    reached,
    heldAfterHold: full.reservations,
    minReservationsDuringHold: Number.isFinite(minReservations) ? minReservations : undefined,
    clientsStillReserved: clientsReserved,
    clientFailures: failures,
    clientErrors: workerErrors,
    memory: {
      baseline: { rssMB: mb(base.rss), heapUsedMB: mb(base.heapUsed) },
      full: { reservations: n, rssMB: mb(full.rss), heapUsedMB: mb(full.heapUsed), externalMB: mb(full.external), arrayBuffersMB: mb(full.arrayBuffers) },
      perReservationKB: {
        rss: Math.round((full.rss - base.rss) / Math.max(1, n) / 1024),
        heap: Math.round((full.heapUsed - base.heapUsed) / Math.max(1, n) / 1024),
        rssSlope: Math.round(slope('rssMB')),
        heapSlope: Math.round(slope('heapUsedMB'))
      },
      afterClientsGone: { reservations: after.reservations, connections: after.connections, rssMB: mb(after.rss), heapUsedMB: mb(after.heapUsed) }
    },
    curve,
    atFullLoad: {
      newReservationMs,
      relayedEchoMs,
      probeError,
      healthMedianMs: healthMs.length > 0 ? Math.round([...healthMs].sort((x, y) => x - y)[Math.floor(healthMs.length / 2)] * 10) / 10 : undefined,
      relayCpuPctOfOneCore: holdCpuPct,
      holdSeconds: HOLD
    },
    releasedAllMs: after.reservations === 0 ? releasedMs : undefined,
    seconds: Math.round((Date.now() - started) / 1000)
  }
  const met = full.reservations >= 1000 && newReservationMs != null && relayedEchoMs != null
  console.log(`relay capacity: ${full.reservations} reservations held (target >= 1000: ${met ? 'met' : 'MISSED'}), ${result.memory.perReservationKB.rss} KB RSS and ${result.memory.perReservationKB.heap} KB heap per reservation (RSS ${mb(base.rss)} -> ${mb(full.rss)} MB); at full load a new reservation took ${newReservationMs ?? 'n/a'} ms and a relayed echo ${relayedEchoMs ?? 'n/a'} ms${probeError != null ? ` (${probeError})` : ''}; relay CPU ${holdCpuPct}% of a core while holding; all slots released ${result.releasedAllMs != null ? `${result.releasedAllMs} ms` : 'NOT'} after the clients vanished`)
  mkdirSync(dirname(resolve(ROOT, JSON_OUT)), { recursive: true })
  writeFileSync(resolve(ROOT, JSON_OUT), JSON.stringify(result, null, 2))
  console.log(`wrote ${JSON_OUT}`)
  cleanup()
  process.exit(0)
}

if (args.includes('--relay-child')) {
  await relayChild()
} else if (args.includes('--client-worker')) {
  await clientWorker()
} else {
  await parent()
}
