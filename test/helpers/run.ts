/**
 * Child processes for the tests of the examples and the package: run a
 * command to its end with a bound, and collect what it printed.
 */
import { spawn } from 'node:child_process'

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** true when the bound was reached and the process was killed */
  timedOut: boolean
}

export interface RunOptions {
  cwd: string
  /** kill the process (SIGKILL) after this many ms */
  timeout: number
  env?: NodeJS.ProcessEnv
}

/** Run `command args…` (no shell) until it exits or `timeout` passes. */
export async function run (command: string, args: string[], options: RunOptions): Promise<RunResult> {
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, options.timeout)
    child.once('error', (err) => { clearTimeout(timer); reject(err) })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })
}

/** A readable account of a run, for assertion messages. */
export function describeRun (what: string, r: RunResult): string {
  return `${what}: exit ${r.code ?? r.signal}${r.timedOut ? ' (killed at the time bound)' : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`
}
