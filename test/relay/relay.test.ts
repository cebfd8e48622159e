/**
 * The relay server, as users run it: the CLI in a child process, and small
 * Node libp2p clients configured like the browser preset (WebSockets + circuit
 * relay transport, gossipsub + pubsub-peer-discovery on a room topic).
 * No mocks.
 */
// Node 20 has no global WebSocket, which @libp2p/websockets needs to dial
import '../../relay/node-websocket.js'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { pubsubPeerDiscovery } from '@libp2p/pubsub-peer-discovery'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { roomTopic } from '../../src/browser/rooms.js'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { PubSubPeerDiscovery } from '@libp2p/pubsub-peer-discovery'
import type { ChildProcess } from 'node:child_process'

const ROOT = new URL('../..', import.meta.url).pathname
const ECHO = '/relay-test/echo/1.0.0'
/** pubsub-peer-discovery re-broadcast interval used by the test clients */
const DISCOVERY_INTERVAL = 1_000

// ---------------------------------------------------------------- processes

interface RelayInfo {
  peerId: string
  multiaddrs: string[]
  pid: number
  startedAt: string
  health?: string
}

interface RelayProcess {
  proc: ChildProcess
  info: RelayInfo
  output: () => string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

const children: ChildProcess[] = []
const dirs: string[] = []

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'relay-test-'))
  dirs.push(dir)
  return dir
}

/** Start the CLI; resolve once it printed "relay ready" and wrote its info file. */
async function startRelay (dir: string, extra: string[] = []): Promise<RelayProcess> {
  const infoFile = join(dir, 'relay.json')
  const proc = spawn(process.execPath, [
    '--import', 'tsx', 'relay/cli.ts',
    '--port', '0',
    '--key-file', join(dir, 'key'),
    '--info-file', infoFile,
    ...extra
  ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(proc)
  let out = ''
  proc.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
  proc.stderr?.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    proc.once('exit', (code, signal) => { resolve({ code, signal }) })
  })

  let gone = false
  void exited.then(() => { gone = true })
  await until(() => gone || out.includes('relay ready'), 20_000, `relay ready (output so far: ${out})`)
  if (gone) {
    throw new Error(`relay exited before it was ready:\n${out}`)
  }
  const info: RelayInfo = JSON.parse(await readFile(infoFile, 'utf8'))
  return { proc, info, output: () => out, exited }
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

// ---------------------------------------------------------------- clients

interface Client {
  node: Libp2p<{ identify: Identify, pubsub: GossipSub }>
  room: string
  /** peers reported by `peer:discovery` */
  discovered: Map<string, string[]>
}

const clients: Client[] = []

/**
 * A client configured like the browser preset should be: only a relayed
 * address, gossipsub named `pubsub` with `allowPublishToZeroTopicPeers`,
 * pubsub-peer-discovery on the room topic only, and a broadcast as soon as
 * the node's own addresses change (the library does not do that by itself).
 */
async function createClient (room: string, relayAddr: string): Promise<Client> {
  let discovery: PubSubPeerDiscovery | undefined
  const node = await createLibp2p({
    addresses: { listen: ['/p2p-circuit'] },
    transports: [webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // browsers refuse ws:// and loopback by default; a local relay needs this
    connectionGater: { denyDialMultiaddr: async () => false },
    peerDiscovery: [
      (components: any) => {
        discovery = pubsubPeerDiscovery({ topics: [roomTopic(room)], interval: DISCOVERY_INTERVAL })(components) as PubSubPeerDiscovery
        return discovery
      }
    ],
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true })
    }
  })
  const client: Client = { node, room, discovered: new Map() }
  clients.push(client)
  node.addEventListener('peer:discovery', (evt) => {
    client.discovered.set(evt.detail.id.toString(), evt.detail.multiaddrs.map(String))
  })
  // pubsub-peer-discovery broadcasts on its timer only (plus once at start,
  // skipped while nobody else is subscribed): it does not react to a new
  // address, to the relay joining the room or to a newcomer. Without these
  // hooks discovery waits for the next tick of `interval` (default 10 s).
  const topic = roomTopic(room)
  const announce = (): void => {
    // an announcement without addresses becomes a peer:discovery event with
    // no multiaddrs at the receiver, and the real ones only a peer:update
    if (node.getMultiaddrs().length > 0) discovery?._broadcast()
  }
  // the reservation: 'transport:listening' fires when it is made,
  // 'self:peer:update' a second later (the address manager debounces it)
  node.addEventListener('transport:listening', announce)
  node.addEventListener('self:peer:update', announce)
  // the relay joined our room, so publishing reaches someone now
  node.services.pubsub.addEventListener('subscription-change', (evt) => {
    if (evt.detail.subscriptions.some(s => s.subscribe && s.topic === topic)) announce()
  })
  // a newcomer announced itself: answer, so it need not wait for our timer
  const heard = new Set<string>()
  node.services.pubsub.addEventListener('message', (evt) => {
    const msg = evt.detail
    if (msg.topic === topic && msg.type === 'signed' && !heard.has(msg.from.toString())) {
      heard.add(msg.from.toString())
      announce()
    }
  })

  await node.handle(ECHO, (stream) => {
    stream.addEventListener('message', (evt) => { stream.send(evt.data) })
    stream.addEventListener('remoteCloseWrite', () => { void stream.close() })
  }, { runOnLimitedConnection: true })

  await node.dial(multiaddr(relayAddr))
  return client
}

function circuitAddrs (node: Libp2p): string[] {
  return node.getMultiaddrs().map(String).filter(a => a.includes('/p2p-circuit'))
}

async function knownCircuitAddrs (node: Libp2p, peer: PeerId): Promise<string[]> {
  try {
    const info = await node.peerStore.get(peer)
    return info.addresses.map(a => a.multiaddr.toString()).filter(a => a.includes('/p2p-circuit'))
  } catch {
    return []
  }
}

/** Wait until `a` knows a circuit address of `b`; returns how long it took. */
async function discovers (a: Client, b: Client, ms = 10_000): Promise<string[]> {
  let addrs: string[] = []
  await untilAsync(async () => {
    addrs = await knownCircuitAddrs(a.node, b.node.peerId)
    return addrs.length > 0
  }, ms, `${a.room} client to discover ${b.room} client`)
  return addrs
}

async function echo (from: Client, to: Client): Promise<{ reply: string, relayed: boolean, limited: boolean }> {
  const stream = await from.node.dialProtocol(to.node.peerId, ECHO, {
    runOnLimitedConnection: true,
    signal: AbortSignal.timeout(10_000)
  })
  const conn = from.node.getConnections(to.node.peerId).find(c => c.streams.includes(stream))
  const replied = new Promise<string>((resolve, reject) => {
    stream.addEventListener('message', (evt) => { resolve(new TextDecoder().decode(evt.data.subarray())) }, { once: true })
    stream.addEventListener('close', (evt) => { reject(evt.error ?? new Error('closed before reply')) }, { once: true })
  })
  stream.send(new TextEncoder().encode('hello through the relay'))
  const reply = await replied
  await stream.close()
  return {
    reply,
    relayed: conn?.remoteAddr.toString().includes('/p2p-circuit') ?? false,
    limited: conn?.limits != null
  }
}

// ---------------------------------------------------------------- helpers

async function until (check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

async function untilAsync (check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

async function health (url: string): Promise<{ status: number, body: any }> {
  const res = await fetch(url)
  return { status: res.status, body: await res.json() }
}

// ---------------------------------------------------------------- tests

let relay1: RelayProcess
let relay2: RelayProcess

beforeAll(async () => {
  const [dir1, dir2] = await Promise.all([tempDir(), tempDir()])
  relay1 = await startRelay(dir1, ['--health-port', '0'])
  // relay 2 links itself to relay 1 with --peer
  relay2 = await startRelay(dir2, ['--health-port', '0', '--peer', relay1.info.multiaddrs[0]])
}, 45_000)

afterAll(async () => {
  await Promise.all(clients.map(async c => { try { await c.node.stop() } catch {} }))
  for (const child of children) {
    if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
  }
  await Promise.all(dirs.map(async d => rm(d, { recursive: true, force: true })))
})

describe('relay CLI', () => {
  it('starts, prints its multiaddr and writes the info file', async () => {
    const out = relay1.output()
    const match = out.match(/relay listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\/(\w+))/)
    expect(match).not.toBeNull()
    expect(out).toContain('relay ready')
    expect(relay1.info.multiaddrs).toContain(match![1])
    expect(relay1.info.peerId).toBe(match![2])
    expect(relay1.info.pid).toBe(relay1.proc.pid)
    expect(Number.isNaN(Date.parse(relay1.info.startedAt))).toBe(false)
  })

  it('answers GET /health', async () => {
    const { status, body } = await health(relay1.info.health!)
    expect(status).toBe(200)
    expect(body).toMatchObject({ ok: true, peerId: relay1.info.peerId })
    expect(typeof body.connections).toBe('number')
    expect(typeof body.reservations).toBe('number')
    expect(typeof body.topics).toBe('number')
    const missing = await fetch(relay1.info.health!.replace('/health', '/nope'))
    expect(missing.status).toBe(404)
  })

  it('links to the relay given with --peer', async () => {
    await until(() => relay2.output().includes('relay linked to'), 10_000, 'relay 2 to link to relay 1')
    await untilAsync(async () => (await health(relay1.info.health!)).body.connections >= 1, 5_000, 'relay 1 to see the link')
  })
})

describe('rooms through one relay', () => {
  let a: Client
  let b: Client
  let c: Client
  let createdAt = 0

  it('gives two clients reservations and /p2p-circuit addresses', async () => {
    const addr = relay1.info.multiaddrs[0]
    createdAt = Date.now()
    ;[a, b, c] = await Promise.all([
      createClient('alpha', addr),
      createClient('alpha', addr),
      createClient('beta', addr)
    ])
    await until(() => [a, b, c].every(x => circuitAddrs(x.node).length > 0), 10_000, 'reservations')
    for (const x of [a, b]) {
      expect(circuitAddrs(x.node)[0]).toMatch(new RegExp(`/p2p/${relay1.info.peerId}/p2p-circuit/p2p/${x.node.peerId.toString()}$`))
    }
    const { body } = await health(relay1.info.health!)
    expect(body.reservations).toBeGreaterThanOrEqual(3)
  })

  it('lets two clients in the same room discover each other', async () => {
    const [ab, ba] = await Promise.all([discovers(a, b), discovers(b, a)])
    console.log(`same-room discovery ${Date.now() - createdAt} ms after creating the clients`)
    expect(ab[0]).toContain(`/p2p/${relay1.info.peerId}/p2p-circuit/p2p/${b.node.peerId.toString()}`)
    expect(ba[0]).toContain(`/p2p-circuit/p2p/${a.node.peerId.toString()}`)
    // libp2p emitted peer:discovery for them
    expect(a.discovered.has(b.node.peerId.toString())).toBe(true)
    expect(b.discovered.has(a.node.peerId.toString())).toBe(true)
    // the relay follows both rooms
    const { body } = await health(relay1.info.health!)
    expect(body.topics).toBe(2)
  })

  it('opens a stream between them over the relayed connection', async () => {
    const result = await echo(a, b)
    expect(result).toEqual({ reply: 'hello through the relay', relayed: true, limited: true })
  })

  it('forwards a room message from one client to the other quickly', async () => {
    const topic = roomTopic('alpha')
    const times: number[] = []
    for (let i = 0; i < 10; i++) {
      const data = new TextEncoder().encode(`latency probe ${i} ${Math.random()}`)
      const got = new Promise<number>((resolve) => {
        const onMessage = (evt: CustomEvent<Message>): void => {
          if (evt.detail.topic === topic && evt.detail.data.length === data.length &&
            new TextDecoder().decode(evt.detail.data) === new TextDecoder().decode(data)) {
            b.node.services.pubsub.removeEventListener('message', onMessage)
            resolve(Date.now())
          }
        }
        b.node.services.pubsub.addEventListener('message', onMessage)
      })
      const sent = Date.now()
      await a.node.services.pubsub.publish(topic, data)
      times.push(await got - sent)
    }
    times.sort((x, y) => x - y)
    console.log(`room message latency through the relay (ms): ${times.join(' ')}`)
    expect(times[Math.floor(times.length / 2)]).toBeLessThan(100)
    expect(times[times.length - 1]).toBeLessThan(1_000)
  })

  it('keeps clients of another room apart', async () => {
    // several broadcast rounds have passed in the tests above; give it one more
    await new Promise(resolve => setTimeout(resolve, DISCOVERY_INTERVAL + 200))
    expect(c.discovered.has(a.node.peerId.toString())).toBe(false)
    expect(c.discovered.has(b.node.peerId.toString())).toBe(false)
    expect(await knownCircuitAddrs(c.node, a.node.peerId)).toEqual([])
    expect(a.discovered.has(c.node.peerId.toString())).toBe(false)
    expect(await knownCircuitAddrs(a.node, c.node.peerId)).toEqual([])
  })

  it('unfollows a room and frees the reservation when its last client leaves', async () => {
    const before = (await health(relay1.info.health!)).body
    await c.node.stop()
    await untilAsync(async () => (await health(relay1.info.health!)).body.topics === 1, 5_000, 'relay to leave room beta')
    // the library keeps a reservation until its TTL; the relay frees it on disconnect
    await untilAsync(async () => (await health(relay1.info.health!)).body.reservations === before.reservations - 1, 5_000, 'relay to free the reservation')
  })
})

describe('rooms across linked relays', () => {
  it('lets a client on relay 1 and a client on relay 2 in the same room discover each other', async () => {
    const createdAt = Date.now()
    const [d, e] = await Promise.all([
      createClient('gamma', relay1.info.multiaddrs[0]),
      createClient('gamma', relay2.info.multiaddrs[0])
    ])
    await until(() => circuitAddrs(d.node).length > 0 && circuitAddrs(e.node).length > 0, 10_000, 'reservations')
    const [de, ed] = await Promise.all([discovers(d, e), discovers(e, d)])
    console.log(`cross-relay discovery ${Date.now() - createdAt} ms after creating the clients`)
    expect(de[0]).toContain(`/p2p/${relay2.info.peerId}/p2p-circuit/p2p/${e.node.peerId.toString()}`)
    expect(ed[0]).toContain(`/p2p/${relay1.info.peerId}/p2p-circuit/p2p/${d.node.peerId.toString()}`)
    // and d can reach e through e's relay
    const result = await echo(d, e)
    expect(result.reply).toBe('hello through the relay')
    expect(result.relayed).toBe(true)
  })
})

describe('relay identity and shutdown', () => {
  it('keeps its PeerId and multiaddr across a restart, and exits 0 on SIGTERM', async () => {
    const dir = await tempDir()
    const port = await freePort()
    const first = await startRelay(dir, ['--port', String(port)])
    const keyMode = (await stat(join(dir, 'key'))).mode & 0o777
    expect(keyMode).toBe(0o600)

    const t0 = Date.now()
    first.proc.kill('SIGTERM')
    const { code } = await first.exited
    const took = Date.now() - t0
    expect(code).toBe(0)
    expect(took).toBeLessThan(5_000)
    expect(first.output()).toContain('relay stopped')
    // the info file goes away with the relay
    await expect(stat(join(dir, 'relay.json'))).rejects.toMatchObject({ code: 'ENOENT' })

    const second = await startRelay(dir, ['--port', String(port)])
    expect(second.info.peerId).toBe(first.info.peerId)
    expect(second.info.multiaddrs).toEqual(first.info.multiaddrs)
    expect(second.info.multiaddrs[0]).toBe(`/ip4/127.0.0.1/tcp/${port}/ws/p2p/${first.info.peerId}`)
    second.proc.kill('SIGINT')
    expect((await second.exited).code).toBe(0)
  })
})
