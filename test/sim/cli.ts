/**
 * `npm run sim -- [--runs N] [--seed S] [--path P] [--commands C]`: the fault
 * simulator outside the test runner, for long runs. Prints the seed of the
 * run and, on a failure, the counter-example fast-check shrank it to and the
 * command that replays it.
 */
import '../../src/util/polyfill.js'
import fc from 'fast-check'
import { simIds } from './ids.js'
import { runScenario, scenarios, stepCounts } from './commands.js'

const args = process.argv.slice(2)
const arg = (name: string): string | undefined => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : undefined }
const runs = Number(arg('runs') ?? 2_000)
const seed = arg('seed') != null ? Number(arg('seed')) : Math.floor(Math.random() * 2 ** 31)
const maxCommands = Number(arg('commands') ?? 30)
const verbose = args.includes('--verbose')

const ids = await simIds(4)
const started = Date.now()
let n = 0
console.info(`simulating ${runs} scenarios, seed ${seed}`)
const result = await fc.check(fc.asyncProperty(scenarios(maxCommands, arg('replay')), async ([config, cmds]) => {
  n++
  if (verbose) console.info(`#${n} ${JSON.stringify(config)}`)
  await runScenario(config, cmds, { ids: ids.slice(0, 3), attacker: ids[3], maxCommands })
  if (n % 100 === 0) console.info(`${n} scenarios, ${((Date.now() - started) / 1000).toFixed(0)} s`)
}), { numRuns: runs, seed, path: arg('path') })
console.info(`${result.numRuns} scenarios in ${((Date.now() - started) / 1000).toFixed(1)} s; steps run (with shrinking): ${[...stepCounts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`)
if (result.failed) {
  console.error(fc.defaultReportMessage(result))
  console.error(String((result.errorInstance as Error)?.message ?? result.errorInstance))
  const replay = /replayPath="([^"]*)"/.exec(fc.stringify(result.counterexample))?.[1]
  console.error(`replay: npm run sim -- --seed ${result.seed} --path ${result.counterexamplePath}${replay != null ? ` --replay '${replay}'` : ''}`)
  process.exit(1)
}
