/**
 * Node benchmark: the messenger against a bare libp2p stream that sends one
 * frame per `send()`, side by side in one process over the same transport
 * (TCP + noise + yamux), interleaved round by round. Reports ratios, never
 * absolute targets: these machines are noisy.
 *
 *   node --import tsx bench/node.ts [--rounds 5] [--json bench/results/node.json]
 */
import '../src/util/polyfill.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { createMessenger, bytes } from '../src/index.js'
import { frame } from '../src/core/framing.js'
import { createNodes, connect, stopAll } from '../test/helpers/nodes.js'
import { allocatedBytes } from './heap-sampling.js'
import type { Stream } from '@libp2p/interface'

const args = process.argv.slice(2)
const arg = (name: string, dflt: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt }
const ROUNDS = Number(arg('rounds', '5'))
const JSON_OUT = arg('json', 'bench/results/node.json')

const MESSENGER = '/bench/messenger/1'
const BARE = '/bench/bare/1'

interface Case { name: string, size: number, count: number }
const CASES: Case[] = [
  { name: '100 B', size: 100, count: 20_000 },
  { name: '64 KiB', size: 64 * 1024, count: 600 }
]

const [a, b] = await createNodes(2)
await connect(a, b)

// --- messenger ---
const ma = createMessenger<Uint8Array>(a, { protocol: MESSENGER, codec: bytes(), maxQueuedMessages: 1_000_000, maxQueuedBytes: 1 << 30, maxTotalQueuedBytes: 1 << 30, maxInboundMessages: 100_000 })
const mb = createMessenger<Uint8Array>(b, { protocol: MESSENGER, codec: bytes(), maxInboundMessages: 100_000, maxInboundBytes: 1 << 30 })
await Promise.all([ma.ready, mb.ready])

async function runMessenger (c: Case, msgs: Uint8Array[]): Promise<number> {
  const t0 = performance.now()
  const done = (async () => {
    let n = 0
    for await (const _ of mb) { if (++n === c.count) break }
  })()
  for (const m of msgs) ma.send(b.peerId, m)
  await done
  return performance.now() - t0
}

// --- bare stream: one length-prefixed frame per send(), waiting for drain when asked ---
let bareReceived = 0
let bareWaiter: (() => void) | undefined
let bareTarget = 0
await b.handle(BARE, (stream) => {
  const decoder = new LengthPrefixedDecoder({ maxDataLength: 1 << 20, maxBufferSize: 64 << 20 })
  stream.addEventListener('message', (evt) => {
    for (const _ of decoder.decode(evt.data)) {
      if (++bareReceived === bareTarget) bareWaiter?.()
    }
  })
})
const bareStream: Stream = await a.dialProtocol(b.peerId, BARE)

async function drain (stream: Stream): Promise<void> {
  while (stream.writableNeedsDrain) {
    await new Promise<void>((resolve) => { stream.addEventListener('drain', () => { resolve() }, { once: true }) })
  }
}

async function runBare (c: Case, msgs: Uint8Array[]): Promise<number> {
  bareReceived = 0
  bareTarget = c.count
  const t0 = performance.now()
  const done = new Promise<void>((resolve) => { bareWaiter = resolve })
  for (const m of msgs) {
    if (!bareStream.send(frame(m))) await drain(bareStream)
  }
  await done
  return performance.now() - t0
}

// --- allocation per message in send(): sampled JS heap + ArrayBuffer growth ---
async function sendAllocation (c: Case, mx: typeof ma): Promise<{ heap: number, arrayBuffers: number }> {
  const n = Math.min(c.count, Math.floor((24 << 20) / c.size))
  const msgs = Array.from({ length: n }, () => new Uint8Array(c.size))
  // a peer nobody can reach: messages stay queued, nothing is written
  const [idle] = await createNodes(1)
  await idle.stop()
  for (const m of msgs.slice(0, 100)) mx.send(idle.peerId, m) // warm up
  const { heap, arrayBuffers } = await allocatedBytes(() => { for (const m of msgs) mx.send(idle.peerId, m) })
  return { heap: heap / n, arrayBuffers: arrayBuffers / n }
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]

const results: any[] = []
for (const c of CASES) {
  const msgs = Array.from({ length: c.count }, (_, i) => { const m = new Uint8Array(c.size); m[0] = i & 0xff; return m })
  // warm up both paths
  const warm = { ...c, count: Math.min(2000, c.count) }
  await runMessenger(warm, msgs.slice(0, warm.count))
  await runBare(warm, msgs.slice(0, warm.count))
  const tm: number[] = []
  const tb: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) { tm.push(await runMessenger(c, msgs)); tb.push(await runBare(c, msgs)) } else { tb.push(await runBare(c, msgs)); tm.push(await runMessenger(c, msgs)) }
  }
  const m = median(tm)
  const bt = median(tb)
  const row = {
    case: c.name,
    messages: c.count,
    messenger: { msgsPerSec: Math.round(c.count / (m / 1000)), MBps: +((c.count * c.size) / (m / 1000) / 1e6).toFixed(1) },
    bare: { msgsPerSec: Math.round(c.count / (bt / 1000)), MBps: +((c.count * c.size) / (bt / 1000) / 1e6).toFixed(1) },
    ratio: +(bt / m).toFixed(2)
  }
  results.push(row)
  console.log(`node ${c.name}: messenger ${row.messenger.msgsPerSec} msg/s ${row.messenger.MBps} MB/s | bare stream ${row.bare.msgsPerSec} msg/s ${row.bare.MBps} MB/s | ratio ${row.ratio}x`)
}

const alloc: Record<string, { heap: number, arrayBuffers: number }> = {}
for (const c of CASES) {
  const mx = createMessenger<Uint8Array>(a, { protocol: `${MESSENGER}/alloc/${c.size}`, codec: bytes(), maxQueuedMessages: 1_000_000, maxQueuedBytes: 1 << 30, maxTotalQueuedBytes: 1 << 30 })
  await mx.ready
  const v = alloc[c.name] = await sendAllocation(c, mx)
  await mx.stop()
  const total = v.heap + v.arrayBuffers
  const byReference = v.arrayBuffers < c.size / 2
  console.log(`node ${c.name}: send() allocates ${Math.round(total)} bytes per message (${Math.round(v.arrayBuffers)} in buffers, ${Math.round(v.heap)} of JS heap) for a ${c.size} B payload: ${byReference ? 'the payload is queued by reference, not copied' : `${Math.round(total - c.size)} B beyond the payload`}`)
}

await mb.stop()
await stopAll([a, b])
mkdirSync(dirname(JSON_OUT), { recursive: true })
writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds: ROUNDS, throughput: results, sendAllocationBytesPerMessage: alloc }, null, 2))
console.log(`wrote ${JSON_OUT}`)
