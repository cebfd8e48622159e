/**
 * The servers on the lab's "public" network, each a child process started
 * inside the lp2pm-pub namespace (`ip netns exec` execs, so the child's pid
 * is the server's own): the real relay (relay/cli.ts), coturn (STUN and TURN)
 * and the test page server (Vite, serving e2e/page).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NS_PUBLIC, PUBLIC_IP, PUBLIC_NET } from './lab.js'

const ROOT = new URL('../..', import.meta.url).pathname

export const PAGE_PORT = 5299
export const RELAY_PORT = 9299
export const TURN_PORT = 3478
export const PAGE_ORIGIN = `http://${PUBLIC_IP}:${PAGE_PORT}`
export const TURN_USER = 'lp2pm'
export const TURN_PASSWORD = 'lp2pm-lab-only'

export const STUN_SERVERS: RTCIceServer[] = [{ urls: `stun:${PUBLIC_IP}:${TURN_PORT}` }]
export const TURN_SERVERS: RTCIceServer[] = [
  { urls: `stun:${PUBLIC_IP}:${TURN_PORT}` },
  { urls: `turn:${PUBLIC_IP}:${TURN_PORT}?transport=udp`, username: TURN_USER, credential: TURN_PASSWORD }
]

interface Service {
  name: string
  child: ChildProcess
  output: string
}

export class PublicServices {
  readonly dir = mkdtempSync(join(tmpdir(), 'lp2pm-netlab-'))
  private readonly services: Service[] = []
  relayAddress = ''

  async start (): Promise<void> {
    await this.spawn('turn', 'turnserver', ['-n', `--listening-ip=${PUBLIC_IP}`, `--relay-ip=${PUBLIC_IP}`,
      `--listening-port=${TURN_PORT}`, '--min-port=49152', '--max-port=49407',
      '--lt-cred-mech', `--user=${TURN_USER}:${TURN_PASSWORD}`, '--realm=lp2pm.test',
      '--no-tls', '--no-dtls', '--no-cli', '--no-tcp-relay', '--fingerprint',
      // relay only to the lab's public network (the routers' WAN addresses)
      `--allowed-peer-ip=${PUBLIC_NET.replace('0/24', '0')}-${PUBLIC_NET.replace('0/24', '255')}`,
      `--userdb=${join(this.dir, 'turndb')}`, `--pidfile=${join(this.dir, 'turn.pid')}`,
      '--log-file=stdout', '--simple-log'], 'Total General servers')
    const infoFile = join(this.dir, 'relay.json')
    await this.spawn('relay', process.execPath, ['--import', 'tsx', 'relay/cli.ts',
      '--host', PUBLIC_IP, '--port', String(RELAY_PORT),
      '--key-file', join(this.dir, 'relay-key'), '--info-file', infoFile], 'relay ready')
    const info = JSON.parse(readFileSync(infoFile, 'utf8')) as { multiaddrs: string[] }
    this.relayAddress = info.multiaddrs.find(a => a.includes('/ws')) ?? ''
    if (this.relayAddress === '') throw new Error(`relay has no ws address: ${JSON.stringify(info)}`)
    await this.spawn('page', join(ROOT, 'node_modules/.bin/vite'), ['--config', 'e2e/network/vite.config.ts',
      '--host', PUBLIC_IP, '--port', String(PAGE_PORT), '--strictPort'], undefined)
    await this.waitForPage()
  }

  /** The relay's output so far (diagnostics). */
  log (name: string): string {
    return this.services.find(s => s.name === name)?.output ?? ''
  }

  private async spawn (name: string, cmd: string, args: string[], ready: string | undefined): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', NS_PUBLIC, cmd, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    const svc: Service = { name, child, output: '' }
    this.services.push(svc)
    const keep = (c: Buffer): void => {
      svc.output += c.toString()
      if (svc.output.length > 200_000) svc.output = svc.output.slice(-100_000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    if (ready == null) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${name} did not start:\n${svc.output}`)) }, 30_000)
      const check = (): void => {
        if (svc.output.includes(ready)) { clearTimeout(timer); resolve() }
      }
      child.stdout?.on('data', check)
      child.stderr?.on('data', check)
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${code}:\n${svc.output}`)) })
    })
  }

  /** Poll the page from inside the public namespace (the root namespace has no route to it). */
  private async waitForPage (): Promise<void> {
    const end = Date.now() + 60_000
    const probe = `fetch('${PAGE_ORIGIN}/index.html').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))`
    while (Date.now() < end) {
      const r = spawnSync('ip', ['netns', 'exec', NS_PUBLIC, process.execPath, '-e', probe], { timeout: 10_000 })
      if (r.status === 0) return
      const page = this.services.find(s => s.name === 'page')
      if (page?.child.exitCode != null) throw new Error(`page server exited:\n${page.output}`)
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    throw new Error(`page server did not answer:\n${this.log('page')}`)
  }

  /** SIGTERM each server (SIGKILL after 5 s), newest first; remove the temporary directory. */
  async stop (): Promise<void> {
    for (const svc of [...this.services].reverse()) {
      const child = svc.child
      if (child.exitCode != null || child.signalCode != null) continue
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
      await exited
      clearTimeout(timer)
    }
    this.services.length = 0
    rmSync(this.dir, { recursive: true, force: true })
  }
}
