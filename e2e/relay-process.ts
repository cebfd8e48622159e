/**
 * Runs the real relay (relay/cli.ts) as a child process for the tests: start,
 * kill, restart on the same port and key.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ROOT = new URL('..', import.meta.url).pathname

export interface RelayInfo {
  peerId: string
  multiaddrs: string[]
}

export class RelayProcess {
  readonly dir: string
  private child?: ChildProcess
  port: number
  info?: RelayInfo

  constructor (port = 0, dir = mkdtempSync(join(tmpdir(), 'lp2pm-relay-'))) {
    this.port = port
    this.dir = dir
  }

  /** The relay's WebSocket multiaddr with its peer id. */
  get address (): string {
    const ma = this.info?.multiaddrs.find(a => a.includes('/ws'))
    if (ma == null) throw new Error('relay not started')
    return ma
  }

  async start (): Promise<RelayInfo> {
    const infoFile = join(this.dir, 'relay.json')
    const child = spawn(process.execPath, ['--import', 'tsx', 'relay/cli.ts',
      '--host', '127.0.0.1', '--port', String(this.port),
      '--key-file', join(this.dir, 'key'), '--info-file', infoFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`relay did not start:\n${output}`)) }, 30_000)
      const onData = (chunk: Buffer): void => {
        output += chunk.toString()
        if (output.includes('relay ready')) { clearTimeout(timer); resolve() }
      }
      child.stdout?.on('data', onData)
      child.stderr?.on('data', (c: Buffer) => { output += c.toString() })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`relay exited with ${code}:\n${output}`)) })
    })
    this.info = JSON.parse(readFileSync(infoFile, 'utf8')) as RelayInfo
    // keep the same port on restarts
    this.port = Number(/\/tcp\/(\d+)\//.exec(this.address)?.[1])
    return this.info
  }

  /** SIGKILL: no goodbye to anyone. */
  async kill (): Promise<void> {
    await this.stopWith('SIGKILL')
  }

  /** SIGTERM, and forget the relay's identity and info files. */
  async stop (): Promise<void> {
    await this.stopWith('SIGTERM')
    rmSync(this.dir, { recursive: true, force: true })
  }

  private async stopWith (signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    if (child == null || child.exitCode != null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill(signal)
    await exited
    this.child = undefined
  }
}
