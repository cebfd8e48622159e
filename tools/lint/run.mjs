// `npm run lint`: install the linter on first use (its own lockfile, see package.json), then run it
// on the whole repository. Extra arguments go to ESLint (e.g. `npm run lint -- --fix`).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const eslint = join(here, 'node_modules', 'eslint', 'bin', 'eslint.js')
if (!existsSync(eslint)) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const installed = spawnSync(npm, ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: here, stdio: 'inherit' })
  if (installed.status !== 0) process.exit(installed.status ?? 1)
}
const run = spawnSync(process.execPath, [eslint, '-c', join(here, 'eslint.config.mjs'), '--max-warnings', '0', ...process.argv.slice(2), '.'], { cwd: root, stdio: 'inherit' })
process.exit(run.status ?? 1)
