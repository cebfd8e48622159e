/**
 * The relay's health endpoint: `GET /health` (or `HEAD`) answers the relay's
 * status as JSON, 200 while it runs and 503 otherwise; anything else is a 404
 * or 405. A plain HTTP server of its own, on its own port, so a load balancer
 * or an orchestrator can probe it without speaking libp2p.
 */
import { createServer } from 'node:http'
import { HEALTH_KEEP_ALIVE_TIMEOUT } from './defaults.js'
import type { AddressInfo } from 'node:net'

export interface HealthEndpointInit<S extends { ok: boolean }> {
  host: string
  /** 0 for any free port */
  port: number
  /** What to answer, read on every request. */
  status(): S
}

export interface HealthEndpoint {
  /** `http://<host>:<port>/health` */
  readonly url: string
  /** Close the server and every connection to it. */
  stop(): Promise<void>
}

/** Start the endpoint; rejects if the port cannot be listened on. */
export async function startHealthEndpoint<S extends { ok: boolean }> (init: HealthEndpointInit<S>): Promise<HealthEndpoint> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/health') {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end('{"error":"not found"}')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' })
      res.end('{"error":"method not allowed"}')
      return
    }
    const body = init.status()
    res.writeHead(body.ok ? 200 : 503, {
      'content-type': 'application/json',
      'cache-control': 'no-store'
    })
    res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body))
  })
  server.keepAliveTimeout = HEALTH_KEEP_ALIVE_TIMEOUT
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port, init.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}/health`,
    stop: async () => {
      await new Promise<void>(resolve => {
        server.close(() => { resolve() })
        server.closeAllConnections()
      })
    }
  }
}
