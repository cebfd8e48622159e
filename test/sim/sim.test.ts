/**
 * The fault simulator in `npm test`: seeded scenarios of the real messenger
 * over the simulated network, each a configuration and up to 30 faults, all
 * invariants checked after every step and at the end. A failure prints the
 * seed, the path and the shrunk fault sequence; replay it with
 * `npm run sim -- --seed <seed> --path <path>`.
 */
import { describe, it } from 'vitest'
import fc from 'fast-check'
import { simIds } from './ids.js'
import { runScenario, scenarios } from './commands.js'

const RUNS = Number(process.env.SIM_RUNS ?? 2_000)

describe('fault simulator', () => {
  it(`${RUNS} seeded scenarios: no invariant of the loss table breaks`, async () => {
    const ids = await simIds(4)
    await fc.assert(fc.asyncProperty(scenarios(30, process.env.SIM_REPLAY), async ([config, cmds]) => {
      await runScenario(config, cmds, { ids: ids.slice(0, 3), attacker: ids[3], maxCommands: 30 })
    }), { numRuns: RUNS, seed: process.env.SIM_SEED != null ? Number(process.env.SIM_SEED) : undefined, path: process.env.SIM_PATH, endOnFailure: process.env.SIM_SHRINK === '0' })
  }, 600_000)
})
