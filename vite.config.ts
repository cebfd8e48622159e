/**
 * Vite config of the demo chat page (demo/).
 *
 * - `node --import tsx demo/start.ts` (`npm start`) runs a relay and serves the page with this config.
 * - `node_modules/.bin/vite build` writes a static build to dist/demo.
 *
 * The page asks `relay.json` (next to index.html) which relay to use. The dev
 * server answers it from, in order: the DEMO_RELAY environment variable (one
 * or more multiaddrs, comma-separated; set by demo/start.ts), or the info file
 * of a relay started with `--info-file .relay/demo.json`. A build writes
 * relay.json when DEMO_RELAY is set at build time. `?relay=<multiaddr>` in the
 * page's URL overrides all of it.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineConfig, type Plugin } from 'vite'

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url))

/** Where demo/start.ts asks the relay to write its { peerId, multiaddrs } info. */
export const DEMO_RELAY_INFO_FILE = here('./.relay/demo.json')

/** The relay multiaddrs known to the server: DEMO_RELAY, else the demo relay's info file. */
function relayAddresses (): string[] {
  const fromEnv = (process.env.DEMO_RELAY ?? '').split(/[\s,]+/).filter(s => s !== '')
  if (fromEnv.length > 0) {
    return fromEnv
  }
  try {
    const info = JSON.parse(readFileSync(DEMO_RELAY_INFO_FILE, 'utf8')) as { multiaddrs?: string[] }
    return info.multiaddrs ?? []
  } catch {
    return []
  }
}

/**
 * The relay address best suited to a page loaded from `hostname`: a WebSocket
 * address on the same host when there is one (so a phone on the LAN that
 * opened http://192.168.1.5:5173 gets the relay at 192.168.1.5), else the
 * first WebSocket address, else the first address.
 */
export function pickRelay (addresses: string[], hostname?: string): string | undefined {
  const ws = addresses.filter(a => /\/wss?(\/|$)/.test(a) || a.includes('/tls/ws'))
  const host = (hostname ?? '').replace(/^\[|\]$/g, '')
  const loopback = host === 'localhost' || host === '127.0.0.1' || host === '::1'
  const sameHost = ws.find(a => host !== '' && a.split('/')[2] === host) ??
    (loopback ? ws.find(a => /^\/ip4\/127\.|^\/ip6\/::1\/|^\/dns4?\/localhost\//.test(a)) : undefined)
  return sameHost ?? ws[0] ?? addresses[0]
}

/** Serves `relay.json` ({ relay, relays }) in dev; emits it into a build when DEMO_RELAY is set. */
function relayJson (): Plugin {
  return {
    name: 'demo-relay-json',
    configureServer (server) {
      server.middlewares.use((req, res, next) => {
        const path = (req.url ?? '').split('?')[0]
        if (!path.endsWith('/relay.json')) {
          next()
          return
        }
        const addresses = relayAddresses()
        const hostname = (req.headers.host ?? '').replace(/:\d+$/, '')
        const relay = pickRelay(addresses, hostname)
        res.statusCode = relay != null ? 200 : 404
        res.setHeader('Content-Type', 'application/json')
        res.setHeader('Cache-Control', 'no-store')
        res.end(JSON.stringify(relay != null ? { relay, relays: addresses } : { error: 'no relay configured: run `npm start`, or add ?relay=<multiaddr> to the URL' }))
      })
    },
    generateBundle () {
      const addresses = (process.env.DEMO_RELAY ?? '').split(/[\s,]+/).filter(s => s !== '')
      if (addresses.length > 0) {
        this.emitFile({ type: 'asset', fileName: 'relay.json', source: JSON.stringify({ relay: pickRelay(addresses), relays: addresses }) + '\n' })
      }
    }
  }
}

export default defineConfig({
  root: here('./demo'),
  // relative asset URLs: the build can be hosted under any path
  base: './',
  // its own dependency cache: the e2e page's Vite server may run at the same time
  cacheDir: here('./node_modules/.vite-demo'),
  plugins: [relayJson()],
  server: { host: 'localhost', port: 5173 },
  preview: { port: 4173 },
  build: {
    outDir: here('./dist/demo'),
    emptyOutDir: true,
    sourcemap: true,
    // the whole libp2p browser stack is one chunk of ~700 kB (~200 kB gzipped)
    chunkSizeWarningLimit: 1024
  },
  logLevel: 'info'
})
