/**
 * `npm start`: the demo in one command. Starts a relay (relay/cli.ts, as a
 * child process) and serves the chat page (demo/) with Vite, prints the URL,
 * and stops both cleanly on Ctrl-C (SIGINT), SIGTERM or SIGHUP, and when the
 * `npm start` that ran it goes away (npm does not pass a `kill <npm pid>` on).
 *
 *   node --import tsx demo/start.ts [--port 5173] [--host localhost] [--relay-port 9090] [--relay <multiaddr>]
 *
 * Run it with --help for the options and their environment variables.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createServer, type ViteDevServer } from 'vite'
import { pickRelay } from '../vite.config.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DEFAULT_PORT = 5173
const DEFAULT_RELAY_PORT = 9090
/** How long the relay may take to start, and to stop, before we give up on it. */
const RELAY_START_TIMEOUT = 30_000
const RELAY_STOP_TIMEOUT = 12_000
/** A repeated signal within this window is the same Ctrl-C (npm forwards the terminal's SIGINT too). */
const SAME_SIGNAL_WINDOW = 1_500
/** How often, when run by an npm script, we check that npm is still there (see watchNpm()). */
const PARENT_CHECK_INTERVAL = 250

const USAGE = `Usage: npm start -- [options]
       node --import tsx demo/start.ts [options]

Starts a relay and serves the libp2p-messenger chat demo; Ctrl-C stops both.

Options (environment variable in brackets, used when the flag is absent):
  --port <n>             port of the page (default ${DEFAULT_PORT}; the next free one if taken)
                         [DEMO_PORT, PORT]
  --host <host>          interface of the page and of the relay (default localhost);
                         0.0.0.0 lets other devices on your network join [DEMO_HOST]
  --relay-port <n>       port of the relay, 0 = any free port (default ${DEFAULT_RELAY_PORT}, or any
                         free port when that one is taken) [RELAY_PORT]
  --relay <multiaddr>    use this running relay instead of starting one, e.g.
                         /ip4/127.0.0.1/tcp/9090/ws/p2p/12D3Koo… [DEMO_RELAY]
  -h, --help             show this help

The page takes its relay from /relay.json, served by this command; a
?relay=<multiaddr> in the page's URL overrides it.`

interface Options {
  port: number
  host: string
  relayPort?: number
  relay?: string
}

class UsageError extends Error {}

function parseOptions (argv: string[], env: NodeJS.ProcessEnv): Options | undefined {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'relay-port': { type: 'string' },
        relay: { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    }).values
  } catch (err: any) {
    throw new UsageError(err.message)
  }
  if (values.help === true) {
    return undefined
  }
  const pick = (flag: string, ...vars: string[]): string | undefined => {
    const v = values[flag]
    if (typeof v === 'string' && v !== '') return v
    for (const name of vars) {
      if (env[name] != null && env[name] !== '') return env[name]
    }
    return undefined
  }
  const port = (flag: string, raw: string | undefined, min: number): number | undefined => {
    if (raw == null) return undefined
    const n = Number(raw)
    if (!/^\d+$/.test(raw.trim()) || n < min || n > 65535) {
      throw new UsageError(`--${flag} must be a port number from ${min} to 65535, got "${raw}"`)
    }
    return n
  }
  const relay = pick('relay', 'DEMO_RELAY')
  if (relay != null && !relay.includes('/p2p/')) {
    throw new UsageError(`--relay must be a multiaddr ending in /p2p/<relay peer id>, got "${relay}"`)
  }
  return {
    port: port('port', pick('port', 'DEMO_PORT', 'PORT'), 1) ?? DEFAULT_PORT,
    host: pick('host', 'DEMO_HOST') ?? 'localhost',
    relayPort: port('relay-port', pick('relay-port', 'RELAY_PORT'), 0),
    relay
  }
}

const log = (line = ''): void => { process.stdout.write(line + '\n') }
const color = process.stdout.isTTY && process.env.NO_COLOR == null
const bold = (s: string): string => color ? `\x1b[1m${s}\x1b[22m` : s
const dim = (s: string): string => color ? `\x1b[2m${s}\x1b[22m` : s
const cyan = (s: string): string => color ? `\x1b[36m${s}\x1b[39m` : s

/** The relay child process, with what it printed. */
interface RunningRelay {
  child: ChildProcess
  addresses: string[]
  exited: Promise<number | null>
}

/**
 * Start relay/cli.ts and wait for "relay ready". It runs in its own process
 * group: a Ctrl-C reaches only us, and we stop it once, with SIGTERM.
 */
async function startRelay (host: string, port: number, dir: string, keyFile: string, quietIfInUse = false): Promise<RunningRelay> {
  const infoFile = join(dir, port === DEFAULT_RELAY_PORT ? 'demo.json' : `demo-${process.pid}.json`)
  const child = spawn(process.execPath, [
    '--import', 'tsx', '--import', './demo/relay-guard.ts', 'relay/cli.ts',
    '--host', host, '--port', String(port), '--key-file', keyFile, '--info-file', infoFile
  ], {
    cwd: ROOT,
    env: { ...process.env, DEMO_RELAY_GUARD: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true
  })
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code, signal) => { resolve(code ?? (signal != null ? 128 : null)) }) })
  let output = ''
  let ready = false
  // held back until the relay is up: a port in use is retried on another port, quietly
  let held: Array<[string, boolean]> | undefined = []
  const write = (line: string, err: boolean): void => { (err ? process.stderr : process.stdout).write(dim(`  relay │ ${line}`) + '\n') }
  const print = (chunk: Buffer, err: boolean): void => {
    output += chunk.toString()
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() === '') continue
      if (held != null) held.push([line, err])
      else write(line, err)
    }
  }
  const release = (): void => {
    for (const [line, err] of held ?? []) write(line, err)
    held = undefined
  }
  child.stdout?.on('data', (c: Buffer) => { print(c, false) })
  child.stderr?.on('data', (c: Buffer) => { print(c, true) })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      release()
      child.kill('SIGTERM')
      reject(new Error(`the relay did not start within ${RELAY_START_TIMEOUT / 1000} s`))
    }, RELAY_START_TIMEOUT)
    child.stdout?.on('data', () => {
      if (!ready && output.includes('relay ready')) {
        ready = true
        clearTimeout(timer)
        release()
        resolve()
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      const inUse = /EADDRINUSE|address already in use/i.test(output)
      if (!inUse || !quietIfInUse) release()
      else held = undefined
      reject(Object.assign(new Error(`the relay exited with code ${code}`), { inUse }))
    })
  })
  const info = JSON.parse(readFileSync(infoFile, 'utf8')) as { multiaddrs: string[] }
  return { child, addresses: info.multiaddrs, exited }
}

async function stopRelay (relay: RunningRelay): Promise<number | null> {
  const { child } = relay
  if (child.exitCode == null && child.signalCode == null) {
    child.kill('SIGTERM')
  }
  const timer = setTimeout(() => { child.kill('SIGKILL') }, RELAY_STOP_TIMEOUT)
  const code = await relay.exited
  clearTimeout(timer)
  return code
}

/** The parent process id of `pid`, from /proc (Linux); undefined where there is none to read. */
function parentOf (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "<pid> (<command>) <state> <ppid> …": the command may contain spaces and parentheses
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    return Number.isInteger(ppid) ? ppid : undefined
  } catch {
    return undefined
  }
}

/**
 * Run by an npm script (`npm start`), call `onGone` once npm is gone.
 * `kill <npm pid>` (SIGTERM) reaches only npm, which passes it to the
 * `sh -c` it runs us in, which dies without passing it on: we would be left
 * running, with the page server and the relay. So we watch our parent (the
 * shell, or npm itself) and, where /proc tells, its parent (npm): when either
 * has exited (our parent, or its parent, changed), npm is gone. Returns a
 * function that stops watching.
 */
function watchNpm (onGone: () => void): () => void {
  if (process.env.npm_lifecycle_event == null) {
    return () => {}
  }
  const parent = process.ppid
  const grandparent = parentOf(parent)
  const timer = setInterval(() => {
    const parentGone = process.ppid !== parent
    const grandparentGone = grandparent != null && grandparent > 1 && parentOf(parent) !== grandparent
    if (parentGone || grandparentGone) {
      clearInterval(timer)
      onGone()
    }
  }, PARENT_CHECK_INTERVAL)
  return () => { clearInterval(timer) }
}

async function main (): Promise<void> {
  let options: Options | undefined
  try {
    options = parseOptions(process.argv.slice(2), process.env)
  } catch (err: any) {
    if (err instanceof UsageError) {
      process.stderr.write(`demo: ${err.message}\n\n${USAGE}\n`)
      process.exit(2)
    }
    throw err
  }
  if (options == null) {
    log(USAGE)
    return
  }

  let relay: RunningRelay | undefined
  let server: ViteDevServer | undefined
  let stopping: Promise<void> | undefined
  let firstSignalAt = 0
  let tempDir: string | undefined

  const stop = async (why: string, code = 0): Promise<void> => {
    log()
    log(`Stopping (${why})…`)
    let exitCode = code
    unwatch()
    if (server != null) {
      await Promise.race([server.close(), new Promise(resolve => setTimeout(resolve, 5_000))]).catch(() => {})
      log('  page server stopped')
    }
    if (relay != null) {
      const relayCode = await stopRelay(relay)
      log(`  relay stopped${relayCode === 0 ? '' : ` (exit code ${relayCode})`}`)
      if (relayCode !== 0 && exitCode === 0) exitCode = 1
    }
    if (tempDir != null) rmSync(tempDir, { recursive: true, force: true })
    log('Stopped.')
    process.exit(exitCode)
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping == null) {
      firstSignalAt = Date.now()
      stopping = stop(signal)
      return
    }
    if (Date.now() - firstSignalAt < SAME_SIGNAL_WINDOW) return
    process.stderr.write(`demo: ${signal} again, exiting now\n`)
    if (relay?.child.pid != null) {
      try { process.kill(relay.child.pid, 'SIGKILL') } catch {}
    }
    process.exit(1)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal)
  const unwatch = watchNpm(() => {
    if (stopping == null) stopping = stop('npm exited')
  })

  log(bold('libp2p-messenger demo'))
  const relayHost = options.host === 'localhost' ? '127.0.0.1' : options.host
  let addresses: string[]
  if (options.relay != null) {
    addresses = [options.relay]
    log(`  using the relay at ${options.relay}`)
  } else {
    const dir = join(ROOT, '.relay')
    mkdirSync(dir, { recursive: true })
    try {
      relay = await startRelay(relayHost, options.relayPort ?? DEFAULT_RELAY_PORT, dir, join(dir, 'demo-key'), options.relayPort == null)
    } catch (err: any) {
      if (err?.inUse === true && options.relayPort == null) {
        // the default port is taken (another demo, another relay): any free port, a throw-away key
        log(`  port ${DEFAULT_RELAY_PORT} is taken: starting the relay on a free port`)
        tempDir = mkdtempSync(join(tmpdir(), 'lp2pm-demo-'))
        try {
          relay = await startRelay(relayHost, 0, tempDir, join(tempDir, 'key'))
        } catch (err2: any) {
          process.stderr.write(`demo: ${err2.message}\n`)
          await stop('the relay failed', 1)
          return
        }
      } else {
        const hint = err?.inUse === true ? ` (port ${options.relayPort} is taken: try --relay-port 0)` : ''
        process.stderr.write(`demo: ${err.message}${hint}\n`)
        await stop('the relay failed', 1)
        return
      }
    }
    addresses = relay.addresses
    const r = relay
    void r.exited.then((code) => {
      if (stopping == null) {
        process.stderr.write(`demo: the relay exited unexpectedly (code ${code})\n`)
        relay = undefined
        stopping = stop('the relay exited', 1)
      }
    })
  }
  if (stopping != null) return

  // the page's relay.json comes from this (see vite.config.ts)
  process.env.DEMO_RELAY = addresses.join(',')
  try {
    server = await createServer({
      configFile: join(ROOT, 'vite.config.ts'),
      server: { port: options.port, host: options.host, strictPort: false },
      clearScreen: false,
      logLevel: 'warn'
    })
    await server.listen()
  } catch (err: any) {
    process.stderr.write(`demo: the page server failed to start: ${err?.message ?? err}\n`)
    await stop('the page server failed', 1)
    return
  }
  if (stopping != null) return

  const urls = server.resolvedUrls ?? { local: [`http://localhost:${options.port}/`], network: [] }
  log()
  log(`  ${bold('Open')}   ${cyan(urls.local[0])}   ${dim('(in two tabs, or two browsers)')}`)
  for (const url of urls.network) {
    log(`  ${bold('LAN')}    ${cyan(url)}`)
  }
  log(`  ${bold('Relay')}  ${pickRelay(addresses, 'localhost') ?? addresses[0]}`)
  log()
  log(dim('  Press Ctrl-C to stop.'))
}

main().catch((err) => {
  process.stderr.write(`demo: ${err?.stack ?? err}\n`)
  process.exit(1)
})
