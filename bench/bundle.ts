/**
 * Bundle size (issue 3): a page that uses the SDK as an application would
 * (createBrowserNode + createMessenger + the json codec) against a page with
 * the same libp2p configuration written by hand, without the SDK (webSockets,
 * webRTC, circuit relay transport, noise, yamux, identify, ping, gossipsub,
 * pubsub-peer-discovery). Both are built with Vite's `build()` (production
 * mode, its default minifier) and compared gzipped (level 9) and brotli'd.
 *
 * A third build is the SDK page with every package import left external: the
 * SDK's own code alone, minified, as a cross-check of the difference.
 *
 *   node --import tsx bench/bundle.ts [--json bench/results/bundle.json]
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { build } from 'vite'

const ROOT = new URL('..', import.meta.url).pathname
const args = process.argv.slice(2)
const arg = (name: string, dflt: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt }
const JSON_OUT = arg('json', 'bench/results/bundle.json')
const TARGET_KB = 15

const RELAY = '/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooWLRPJAA5o6Ftc1NvqvpNF3ZCTbSvW7aYzJLkNcZdGvgTh'

// an application using the SDK
const SDK_PAGE = `
import { createBrowserNode, createMessenger, json } from '${join(ROOT, 'src/index.ts')}'

async function main () {
  const node = await createBrowserNode({ relays: ['${RELAY}'], room: 'lobby' })
  const chat = createMessenger(node, { protocol: '/chat/1.0.0', codec: json() })
  chat.addEventListener('peer:join', (evt) => { chat.send(evt.detail, { text: 'hello' }) })
  chat.addEventListener('drop', (evt) => { console.warn('dropped', evt.detail.count) })
  for await (const { from, data } of chat) {
    document.body.append(from.toString() + ': ' + data.text)
  }
}
main()
`

// the same libp2p configuration by hand, no SDK (and no messaging layer of its own)
const BASELINE_PAGE = `
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { FaultTolerance } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { pubsubPeerDiscovery } from '@libp2p/pubsub-peer-discovery'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

async function main () {
  const node = await createLibp2p({
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transports: [webSockets(), circuitRelayTransport(), webRTC({ rtcConfiguration: { iceServers: [] } })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    transportManager: { faultTolerance: FaultTolerance.NO_FATAL },
    connectionMonitor: { pingInterval: 3000 },
    peerDiscovery: [pubsubPeerDiscovery({ topics: ['libp2p-messenger/room/lobby'] })],
    services: { identify: identify(), ping: ping(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }) }
  })
  await node.handle('/chat/1.0.0', (stream) => {
    stream.addEventListener('message', (evt) => { document.body.append(new TextDecoder().decode(evt.data.subarray())) })
  })
  await node.dial(multiaddr('${RELAY}'))
}
main()
`

interface Sizes { files: number, raw: number, gzip: number, brotli: number }

function measure (dir: string): Sizes {
  const sizes: Sizes = { files: 0, raw: 0, gzip: 0, brotli: 0 }
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) { walk(p); continue }
      if (!/\.(m?js|css)$/.test(name)) continue
      const buf = readFileSync(p)
      sizes.files++
      sizes.raw += buf.byteLength
      sizes.gzip += gzipSync(buf, { level: 9 }).byteLength
      sizes.brotli += brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).byteLength
    }
  }
  walk(dir)
  return sizes
}

async function buildPage (name: string, code: string, work: string, out: string, externalPackages = false): Promise<Sizes & { modules?: Record<string, number> }> {
  const src = join(work, name)
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'index.html'), '<!doctype html><html><head><meta charset="utf-8"></head><body><script type="module" src="./main.js"></script></body></html>\n')
  writeFileSync(join(src, 'main.js'), code)
  const outDir = join(out, name)
  // rendered (tree-shaken, not yet minified) bytes per source area
  const modules: Record<string, number> = {}
  await build({
    configFile: false,
    root: src,
    logLevel: 'warn',
    mode: 'production',
    build: {
      outDir,
      emptyOutDir: true,
      reportCompressedSize: false,
      chunkSizeWarningLimit: 10_000,
      modulePreload: { polyfill: false },
      rolldownOptions: {
        external: externalPackages ? (id: string) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('\0') : undefined
      }
    },
    plugins: [{
      name: 'module-sizes',
      generateBundle (_options: unknown, bundle: Record<string, any>) {
        for (const chunk of Object.values(bundle)) {
          if (chunk.type !== 'chunk') continue
          for (const [id, m] of Object.entries<any>(chunk.modules ?? {})) {
            const path = relative(ROOT, id.replace(/^\0/, ''))
            const area = path.startsWith('src/') ? 'SDK (src/)' : path.startsWith('node_modules/') ? path.split('/').slice(1, path.split('/')[1].startsWith('@') ? 3 : 2).join('/') : 'page'
            modules[area] = (modules[area] ?? 0) + (m.renderedLength ?? 0)
          }
        }
      }
    }]
  })
  return { ...measure(outDir), modules }
}

const kb = (n: number): number => Math.round(n / 102.4) / 10

// sources under the (gitignored) results folder so packages resolve from node_modules; output in a temp dir
const work = mkdtempSync(join(ROOT, 'bench/results/.bundle-'))
const out = mkdtempSync(join(tmpdir(), 'lp2pm-bundle-'))
try {
  const sdk = await buildPage('sdk', SDK_PAGE, work, out)
  const baseline = await buildPage('baseline', BASELINE_PAGE, work, out)
  const own = await buildPage('sdk-only', SDK_PAGE, work, out, true)
  const diff = { raw: sdk.raw - baseline.raw, gzip: sdk.gzip - baseline.gzip, brotli: sdk.brotli - baseline.brotli }
  // packages in the SDK page that the baseline page does not have, by rendered bytes
  const extra: Record<string, number> = {}
  for (const [area, bytes] of Object.entries(sdk.modules ?? {})) {
    const d = bytes - (baseline.modules?.[area] ?? 0)
    if (Math.abs(d) > 512 && area !== 'page') extra[area] = d
  }
  const result = {
    date: new Date().toISOString(),
    gzipLevel: 9,
    sdkPage: { files: sdk.files, rawKB: kb(sdk.raw), gzipKB: kb(sdk.gzip), brotliKB: kb(sdk.brotli) },
    baselinePage: { files: baseline.files, rawKB: kb(baseline.raw), gzipKB: kb(baseline.gzip), brotliKB: kb(baseline.brotli) },
    sdkAdds: { rawKB: kb(diff.raw), gzipKB: kb(diff.gzip), brotliKB: kb(diff.brotli) },
    sdkCodeAlone: { rawKB: kb(own.raw), gzipKB: kb(own.gzip), brotliKB: kb(own.brotli), note: 'the SDK page with every package import external: src/ minified on its own' },
    renderedBytesBeforeMinify: { sdkPage: sdk.modules, baselinePage: baseline.modules, differenceByArea: extra },
    targetGzipKB: TARGET_KB,
    met: diff.gzip / 1024 <= TARGET_KB
  }
  console.log(`bundle: page with the SDK ${result.sdkPage.gzipKB} kB gzipped (${result.sdkPage.rawKB} kB minified) | same libp2p setup without the SDK ${result.baselinePage.gzipKB} kB | the SDK adds ${result.sdkAdds.gzipKB} kB gzipped, ${result.sdkAdds.brotliKB} kB brotli (target <= ${TARGET_KB} kB: ${result.met ? 'met' : 'MISSED'}); the SDK's code alone ${result.sdkCodeAlone.gzipKB} kB gzipped`)
  mkdirSync(dirname(resolve(ROOT, JSON_OUT)), { recursive: true })
  writeFileSync(resolve(ROOT, JSON_OUT), JSON.stringify(result, null, 2))
  console.log(`wrote ${JSON_OUT}`)
} finally {
  rmSync(work, { recursive: true, force: true })
  rmSync(out, { recursive: true, force: true })
}
