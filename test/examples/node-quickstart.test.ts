/**
 * examples/node-quickstart.mjs, run as a newcomer runs it: `node
 * examples/node-quickstart.mjs` in the repository, importing the package by
 * its own name (package.json `exports`, so the built dist/ — built here
 * first, as `npm ci` does through the `prepare` script).
 */
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { describeRun, run } from '../helpers/run.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** The quick start must have printed its message and exited by then. */
const BOUND = 30_000

describe('examples/node-quickstart.mjs', () => {
  beforeAll(async () => {
    const build = await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, timeout: 60_000 })
    expect(build.code, describeRun('the build', build)).toBe(0)
  }, 90_000)

  it('prints the received message and exits 0', async () => {
    const r = await run(process.execPath, ['examples/node-quickstart.mjs'], { cwd: ROOT, timeout: BOUND })
    expect(r.timedOut, describeRun('the quick start', r)).toBe(false)
    expect(r.code, describeRun('the quick start', r)).toBe(0)
    expect(r.stdout).toBe('bob received "hello from alice" from alice\n')
  }, BOUND + 5_000)
})
