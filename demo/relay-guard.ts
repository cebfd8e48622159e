/**
 * Loaded into the relay that demo/start.ts runs (`--import`): the relay runs
 * in its own process group (so a Ctrl-C in the terminal reaches only the
 * runner, which then stops the relay once, cleanly). If the runner dies
 * without doing so (SIGKILL, a crash), the relay's stdin pipe closes, and this
 * stops the relay the normal way, with SIGTERM.
 */
if (process.env.DEMO_RELAY_GUARD === '1') {
  process.stdin.on('end', () => { process.kill(process.pid, 'SIGTERM') })
  process.stdin.on('error', () => { process.kill(process.pid, 'SIGTERM') })
  process.stdin.resume()
}

export {}
