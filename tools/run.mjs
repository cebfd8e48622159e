// Runs a development tool that lives in its own install under tools/<name>/ (its own package.json
// and lockfile: these tools need TypeScript 6, the project builds with TypeScript 7). The install
// happens on first use. Used by `npm run lint` and `npm run docs`:
//
//   node tools/run.mjs lint [eslint args…]
//   node tools/run.mjs docs [typedoc args…]
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const TOOLS = {
  lint: { bin: 'eslint/bin/eslint.js', args: (dir) => ['-c', join(dir, 'eslint.config.mjs'), '--max-warnings', '0', '.'] },
  docs: { bin: 'typedoc/bin/typedoc', args: (dir) => ['--options', join(dir, 'typedoc.json')] }
}

const [name, ...extra] = process.argv.slice(2)
const tool = TOOLS[name]
if (tool == null) {
  console.error(`usage: node tools/run.mjs <${Object.keys(TOOLS).join('|')}> [args…]`)
  process.exit(2)
}
const dir = join(root, 'tools', name)
const bin = join(dir, 'node_modules', tool.bin)
if (!existsSync(bin)) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const installed = spawnSync(npm, ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: 'inherit' })
  if (installed.status !== 0) process.exit(installed.status ?? 1)
}
const run = spawnSync(process.execPath, [bin, ...extra, ...tool.args(dir)], { cwd: root, stdio: 'inherit' })
process.exit(run.status ?? 1)
