#!/usr/bin/env node
/**
 * The relay command. Run `node --import tsx relay/cli.ts --help` (or the built
 * `node dist/relay/cli.js --help`).
 */
import '../src/util/polyfill.js'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  DEFAULT_ALLOW,
  DEFAULT_HOST,
  DEFAULT_INBOUND_CONNECTION_THRESHOLD,
  DEFAULT_INFO_FILE,
  DEFAULT_KEY_FILE,
  DEFAULT_MAX_CIRCUITS_PER_PEER,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_RESERVATIONS,
  DEFAULT_MAX_ROOMS,
  DEFAULT_PORT,
  DEFAULT_RELAYED_CONNECTION_DATA,
  DEFAULT_RELAYED_CONNECTION_DURATION,
  MAX_TIMER,
  SHUTDOWN_TIMEOUT
} from './defaults.js'
import { createRelay } from './server.js'
import type { Relay, RelayOptions } from './server.js'

const USAGE = `Usage: libp2p-messenger-relay [options]

Runs the libp2p-messenger relay: WebSocket listener, circuit relay v2 server
and room discovery (gossipsub) for browsers.

Options (environment variable in brackets, used when the flag is absent):
  --host <ip>                    interface to listen on (default ${DEFAULT_HOST}) [RELAY_HOST]
  --port <n>                     TCP port, 0 = any free port (default ${DEFAULT_PORT}) [RELAY_PORT]
  --key-file <path>              identity key, created on first run, mode 0600
                                 (default ${DEFAULT_KEY_FILE}) [RELAY_KEY_FILE]
  --announce <multiaddr>         address to announce instead of the listen address;
                                 repeatable [RELAY_ANNOUNCE, comma-separated]
  --tls-cert <path>              PEM certificate: serve secure WebSockets (/wss) [RELAY_TLS_CERT]
  --tls-key <path>               PEM private key for --tls-cert [RELAY_TLS_KEY]
  --info-file <path>             JSON { peerId, multiaddrs, pid, startedAt, health } written
                                 once started, removed on exit (default ${DEFAULT_INFO_FILE}) [RELAY_INFO_FILE]
  --max-reservations <n>         circuit relay reservations, one per peer
                                 (default ${DEFAULT_MAX_RESERVATIONS}) [RELAY_MAX_RESERVATIONS]
  --peer <multiaddr>             another relay to stay connected with, so rooms span
                                 relays; repeatable [RELAY_PEERS, comma-separated]
  --health-port <n>              serve GET /health on this port, 0 = any [RELAY_HEALTH_PORT]
  --max-connections <n>          total connections (default ${DEFAULT_MAX_CONNECTIONS}) [RELAY_MAX_CONNECTIONS]
  --max-connections-per-ip <n>   connections from one IP address, 0 = no limit
                                 (default ${DEFAULT_MAX_CONNECTIONS_PER_IP}) [RELAY_MAX_CONNECTIONS_PER_IP]
  --connection-rate <n>          new connections per second from one IP address
                                 (default ${DEFAULT_INBOUND_CONNECTION_THRESHOLD}) [RELAY_CONNECTION_RATE]
  --allow <cidr>                 network exempt from the per-IP limits; repeatable
                                 (default ${DEFAULT_ALLOW.join(' and ')}) [RELAY_ALLOW, comma-separated]
  --max-circuits-per-peer <n>    relayed connections one peer may have open at once
                                 (default ${DEFAULT_MAX_CIRCUITS_PER_PEER}) [RELAY_MAX_CIRCUITS_PER_PEER]
  --circuit-duration <ms>        lifetime of one relayed connection, 0 = unlimited
                                 (default ${DEFAULT_RELAYED_CONNECTION_DURATION}) [RELAY_CIRCUIT_DURATION]
  --circuit-data <bytes>         bytes one relayed connection may carry, 0 = unlimited
                                 (default ${DEFAULT_RELAYED_CONNECTION_DATA}) [RELAY_CIRCUIT_DATA]
  --max-rooms <n>                rooms followed at once (default ${DEFAULT_MAX_ROOMS}) [RELAY_MAX_ROOMS]
  -h, --help                     show this help

Prints "relay listening on <multiaddr>" for each address, then "relay ready".
Stops cleanly on SIGTERM or SIGINT.`

class UsageError extends Error {}

interface Flag {
  env: string
  multiple?: boolean
}

const FLAGS: Record<string, Flag> = {
  host: { env: 'RELAY_HOST' },
  port: { env: 'RELAY_PORT' },
  'key-file': { env: 'RELAY_KEY_FILE' },
  announce: { env: 'RELAY_ANNOUNCE', multiple: true },
  'tls-cert': { env: 'RELAY_TLS_CERT' },
  'tls-key': { env: 'RELAY_TLS_KEY' },
  'info-file': { env: 'RELAY_INFO_FILE' },
  'max-reservations': { env: 'RELAY_MAX_RESERVATIONS' },
  peer: { env: 'RELAY_PEERS', multiple: true },
  'health-port': { env: 'RELAY_HEALTH_PORT' },
  'max-connections': { env: 'RELAY_MAX_CONNECTIONS' },
  'max-connections-per-ip': { env: 'RELAY_MAX_CONNECTIONS_PER_IP' },
  'connection-rate': { env: 'RELAY_CONNECTION_RATE' },
  allow: { env: 'RELAY_ALLOW', multiple: true },
  'max-circuits-per-peer': { env: 'RELAY_MAX_CIRCUITS_PER_PEER' },
  'circuit-duration': { env: 'RELAY_CIRCUIT_DURATION' },
  'circuit-data': { env: 'RELAY_CIRCUIT_DATA' },
  'max-rooms': { env: 'RELAY_MAX_ROOMS' }
}

interface CliConfig {
  relay: RelayOptions
  keyFile: string
  infoFile: string
  tlsCertFile?: string
  tlsKeyFile?: string
  help: boolean
}

/** Parse flags, with environment variables as fallbacks. Throws UsageError. */
function parseCli (argv: string[], env: NodeJS.ProcessEnv, cwd: string): CliConfig {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(Object.entries(FLAGS).map(([name, flag]) => [name, { type: 'string' as const, multiple: flag.multiple === true }])),
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err: any) {
    throw new UsageError(err.message)
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>

  const get = (name: string): string | undefined => {
    const value = values[name]
    if (typeof value === 'string') {
      return value
    }
    const fromEnv = env[FLAGS[name].env]
    return fromEnv != null && fromEnv !== '' ? fromEnv : undefined
  }
  const getAll = (name: string): string[] => {
    const value = values[name]
    if (Array.isArray(value) && value.length > 0) {
      return value
    }
    const fromEnv = env[FLAGS[name].env]
    return fromEnv == null ? [] : fromEnv.split(/[\s,]+/).filter(s => s !== '')
  }
  const int = (name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const raw = get(name)
    if (raw == null) {
      return undefined
    }
    const n = Number(raw)
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`)
    }
    return n
  }

  const keyFile = resolve(cwd, get('key-file') ?? DEFAULT_KEY_FILE)
  const infoFile = resolve(cwd, get('info-file') ?? DEFAULT_INFO_FILE)
  const tlsCertFile = get('tls-cert')
  const tlsKeyFile = get('tls-key')
  if ((tlsCertFile == null) !== (tlsKeyFile == null)) {
    throw new UsageError('--tls-cert and --tls-key go together')
  }

  const allow = getAll('allow')
  const relay: RelayOptions = {
    host: get('host') ?? DEFAULT_HOST,
    port: int('port', 0, 65535) ?? DEFAULT_PORT,
    keyFile,
    announce: getAll('announce'),
    peers: getAll('peer'),
    maxReservations: int('max-reservations', 1),
    healthPort: int('health-port', 0, 65535),
    maxConnections: int('max-connections', 1),
    maxConnectionsPerIp: int('max-connections-per-ip', 0),
    inboundConnectionThreshold: int('connection-rate', 1),
    allow: allow.length > 0 ? allow : undefined,
    maxCircuitsPerPeer: int('max-circuits-per-peer', 1),
    relayedConnectionDuration: int('circuit-duration', 0, MAX_TIMER),
    relayedConnectionData: int('circuit-data', 0),
    maxRooms: int('max-rooms', 1)
  }

  return { relay, keyFile, infoFile, tlsCertFile, tlsKeyFile, help: values.help === true }
}

async function writeInfoFile (file: string, relay: Relay, startedAt: string): Promise<void> {
  const info = {
    peerId: relay.peerId.toString(),
    multiaddrs: relay.multiaddrs.map(ma => ma.toString()),
    pid: process.pid,
    startedAt,
    ...(relay.healthUrl != null ? { health: relay.healthUrl } : {})
  }
  await mkdir(dirname(file), { recursive: true })
  // write then rename, so a reader never sees half a file
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(info, null, 2) + '\n')
  await rename(tmp, file)
}

/** Remove the info file, unless another relay has written it since. */
async function removeInfoFile (file: string): Promise<void> {
  try {
    const info = JSON.parse(await readFile(file, 'utf8'))
    if (info?.pid === process.pid) {
      await rm(file, { force: true })
    }
  } catch {}
}

async function main (): Promise<void> {
  let config: CliConfig
  try {
    config = parseCli(process.argv.slice(2), process.env, process.cwd())
  } catch (err: any) {
    if (err instanceof UsageError) {
      console.error(`relay: ${err.message}\n\n${USAGE}`)
      process.exit(2)
    }
    throw err
  }
  if (config.help) {
    console.log(USAGE)
    return
  }

  // a stray rejection inside a library must not take every user's relay down
  process.on('unhandledRejection', (err) => {
    console.error('relay: unhandled rejection:', err)
  })

  const log = (line: string): void => { console.log(line) }
  const options: RelayOptions = { ...config.relay, log }
  if (config.tlsCertFile != null && config.tlsKeyFile != null) {
    options.tls = {
      cert: await readFile(config.tlsCertFile),
      key: await readFile(config.tlsKeyFile)
    }
  }

  log(`relay starting (pid ${process.pid})`)
  let relay: Relay
  try {
    relay = await createRelay(options)
  } catch (err: any) {
    console.error(`relay failed to start: ${err?.message ?? err}`)
    process.exit(1)
  }

  let shuttingDown = false
  const shutdown = (signal: string): void => {
    if (shuttingDown) {
      console.error(`relay: ${signal} again, exiting now`)
      process.exit(1)
    }
    shuttingDown = true
    log(`relay stopping (${signal})`)
    const timer = setTimeout(() => {
      console.error(`relay: clean shutdown took over ${SHUTDOWN_TIMEOUT / 1000} s, exiting`)
      process.exit(1)
    }, SHUTDOWN_TIMEOUT)
    timer.unref()
    Promise.all([relay.stop(), removeInfoFile(config.infoFile)])
      .then(() => {
        log('relay stopped')
        process.exit(0)
      }, (err: any) => {
        console.error(`relay: error while stopping: ${err?.message ?? err}`)
        process.exit(1)
      })
  }
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
  process.on('SIGINT', () => { shutdown('SIGINT') })

  const startedAt = new Date().toISOString()
  log(`relay peer id ${relay.peerId.toString()}`)
  for (const ma of relay.multiaddrs) {
    log(`relay listening on ${ma.toString()}`)
  }
  if (relay.healthUrl != null) {
    log(`relay health on ${relay.healthUrl}`)
  }
  try {
    await writeInfoFile(config.infoFile, relay, startedAt)
  } catch (err: any) {
    console.error(`relay: could not write ${config.infoFile}: ${err?.message ?? err}`)
  }
  log('relay ready')
}

main().catch((err) => {
  console.error('relay:', err)
  process.exit(1)
})
