/**
 * `npm start` (demo/start.ts) stopped the way a script or a process manager
 * stops it: `kill <pid of npm>`. npm does not pass that SIGTERM on to the
 * runner (its `sh -c` dies and leaves it behind), so the runner must notice
 * on its own, and stop the page server and the relay: both ports close.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { connect, createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** From `kill` to both ports closed. The runner allows the relay up to 12 s to stop cleanly. */
const BOUND = 20_000

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      srv.close(() => { resolve(typeof address === 'object' && address != null ? address.port : 0) })
    })
  })
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
async function listening (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}

async function waitFor (what: string, done: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

let npm: ChildProcess | undefined

afterEach(() => {
  // whatever is left of the run: npm's process group (the runner is in it; the relay
  // follows the runner through its stdin guard)
  if (npm?.pid != null) {
    try { process.kill(-npm.pid, 'SIGKILL') } catch {}
  }
  npm = undefined
})

describe('npm start', () => {
  it('stops the page server and the relay when npm is killed', async () => {
    const [port, relayPort] = [await freePort(), await freePort()]
    const child = spawn('npm', ['start', '--', '--host', '127.0.0.1', '--port', String(port), '--relay-port', String(relayPort)], {
      cwd: ROOT,
      // its own process group, so that afterEach can clean up whatever a failure leaves
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' }
    })
    npm = child
    let output = ''
    child.stdout?.on('data', (c: Buffer) => { output += c.toString() })
    child.stderr?.on('data', (c: Buffer) => { output += c.toString() })
    await waitFor('"Press Ctrl-C to stop."', async () => output.includes('Press Ctrl-C to stop.'), 60_000)
      .catch((err: Error) => { throw new Error(`${err.message}\n${output}`) })
    expect(await listening(port), output).toBe(true)
    expect(await listening(relayPort), output).toBe(true)

    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
    await waitFor(`ports ${port} and ${relayPort} to close`, async () => !(await listening(port)) && !(await listening(relayPort)), BOUND)
      .catch((err: Error) => { throw new Error(`${err.message}\n${output}`) })
  }, 90_000)
})
