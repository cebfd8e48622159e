/**
 * The package as a user gets it: `npm pack` on a fresh checkout (no dist/:
 * the `prepack` build must make it), the tarball installed into a scratch
 * project with `npm install <tarball>`, and there:
 *  - Node ESM imports every entry point, and the Node quick start runs;
 *  - `vite build` bundles a page importing `libp2p-messenger/browser`;
 *  - the relay command (`bin`) starts;
 *  - publint finds nothing, and attw (are the types wrong) is clean on its ESM profile.
 *
 * Dependencies come from the npm cache when `npm ci` filled it (--prefer-offline),
 * else from the registry.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeRun, run } from '../helpers/run.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const BIN = (name: string): string => join(ROOT, 'node_modules', '.bin', name)
/** The version of @libp2p/tcp the repository tests with (the Node quick start needs a TCP transport). */
const TCP_VERSION: string = JSON.parse(execFileSync(NPM, ['pkg', 'get', 'devDependencies.@libp2p/tcp'], { cwd: ROOT, encoding: 'utf8' }))

let work: string
let tarball: string
let consumer: string

describe('the packed package, installed into a scratch project', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lp2pm-pack-'))
    // a fresh checkout: the files git knows of (committed or not, never ignored ones such as dist/)
    const checkout = join(work, 'checkout')
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0').filter(f => f !== '' && existsSync(join(ROOT, f)))
    for (const file of files) {
      mkdirSync(dirname(join(checkout, file)), { recursive: true })
      cpSync(join(ROOT, file), join(checkout, file))
    }
    expect(existsSync(join(checkout, 'dist'))).toBe(false)
    // what `npm ci` would install
    symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir')
    const pack = await run(NPM, ['pack', '--pack-destination', work], { cwd: checkout, timeout: 120_000 })
    expect(pack.code, describeRun('npm pack', pack)).toBe(0)
    const tgz = readdirSync(work).filter(f => f.endsWith('.tgz'))
    expect(tgz).toHaveLength(1)
    tarball = join(work, tgz[0])

    consumer = join(work, 'consumer')
    mkdirSync(consumer)
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'scratch-consumer', private: true, type: 'module' }, null, 2))
    const install = await run(NPM, ['install', tarball, `@libp2p/tcp@${TCP_VERSION}`, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: consumer, timeout: 240_000 })
    expect(install.code, describeRun('npm install <tarball>', install)).toBe(0)
  }, 360_000)

  afterAll(() => {
    if (work != null) rmSync(work, { recursive: true, force: true })
  })

  it('holds every file package.json points at, and no tests', async () => {
    const listing = await run('tar', ['-tzf', tarball], { cwd: work, timeout: 30_000 })
    expect(listing.code, describeRun('tar -tzf', listing)).toBe(0)
    const files = new Set(listing.stdout.split('\n').filter(f => f !== '').map(f => f.replace(/^package\//, '')))
    const pkg = JSON.parse(readFileSync(join(consumer, 'node_modules', 'libp2p-messenger', 'package.json'), 'utf8'))
    const targets: string[] = [pkg.types, ...Object.values<string>(pkg.bin),
      ...Object.values<string | Record<string, string>>(pkg.exports).flatMap(e => typeof e === 'string' ? [e] : Object.values(e))]
    for (const target of targets) expect(files, target).toContain(target.replace(/^\.\//, ''))
    for (const file of ['LICENSE', 'README.md', 'dist/src/index.js', 'dist/relay/cli.js']) expect(files, file).toContain(file)
    expect([...files].filter(f => /\.(test|spec)\.[jt]s$/.test(f) || /^(test|e2e|bench|demo|examples)\//.test(f))).toEqual([])
  })

  it('Node ESM imports every entry point', async () => {
    writeFileSync(join(consumer, 'imports.mjs'), [
      "import { createMessenger, json, bytes, openOutbox, MessengerStoppedError } from 'libp2p-messenger'",
      "import { createRequestor, RequestTimeoutError } from 'libp2p-messenger/request'",
      "import { memoryOutboxStore, memoryLedger } from 'libp2p-messenger/outbox'",
      "import { createTransfers } from 'libp2p-messenger/transfer'",
      'const outbox = await openOutbox(memoryOutboxStore())',
      'console.log([createMessenger, json, bytes, createRequestor, memoryLedger, createTransfers].map(f => typeof f).join(),',
      '  new MessengerStoppedError().name, new RequestTimeoutError().name, typeof outbox.close)'
    ].join('\n'))
    const r = await run(process.execPath, ['imports.mjs'], { cwd: consumer, timeout: 30_000 })
    expect(r.code, describeRun('imports.mjs', r)).toBe(0)
    expect(r.stdout.trim()).toBe('function,function,function,function,function,function MessengerStoppedError RequestTimeoutError function')
  })

  it('the Node quick start runs against the installed package', async () => {
    cpSync(join(ROOT, 'examples', 'node-quickstart.mjs'), join(consumer, 'node-quickstart.mjs'))
    const r = await run(process.execPath, ['node-quickstart.mjs'], { cwd: consumer, timeout: 30_000 })
    expect(r.code, describeRun('node-quickstart.mjs', r)).toBe(0)
    expect(r.stdout).toBe('bob received "hello from alice" from alice\n')
  }, 40_000)

  it('vite build bundles a page importing libp2p-messenger/browser', async () => {
    const page = join(consumer, 'page')
    mkdirSync(page)
    writeFileSync(join(page, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>\n')
    writeFileSync(join(page, 'main.js'), [
      "import { createMessenger, json } from 'libp2p-messenger'",
      "import { createBrowserNode, loadIdentity } from 'libp2p-messenger/browser'",
      'const identity = await loadIdentity()',
      "const node = await createBrowserNode({ relays: [location.hash.slice(1)], room: 'r', privateKey: identity.privateKey })",
      "createMessenger(node, { protocol: '/p/1.0.0', codec: json() })"
    ].join('\n'))
    // the repository's vite (the version it is tested with), resolving the package from the scratch project
    const r = await run(BIN('vite'), ['build', '--logLevel', 'warn', '--outDir', join(page, 'out'), page], { cwd: consumer, timeout: 120_000 })
    expect(r.code, describeRun('vite build', r)).toBe(0)
    const assets = readdirSync(join(page, 'out', 'assets')).filter(f => f.endsWith('.js'))
    expect(assets.length).toBeGreaterThan(0)
  }, 130_000)

  it('the relay command starts', async () => {
    const r = await run(join(consumer, 'node_modules', '.bin', 'libp2p-messenger-relay'), ['--help'], { cwd: consumer, timeout: 30_000 })
    expect(r.code, describeRun('libp2p-messenger-relay --help', r)).toBe(0)
    expect(r.stdout).toContain('Usage: libp2p-messenger-relay')
  })

  it('publint finds nothing to report', async () => {
    const r = await run(BIN('publint'), ['run', tarball, '--strict'], { cwd: work, timeout: 60_000 })
    expect(r.code, describeRun('publint', r)).toBe(0)
    expect(r.stdout).toContain('All good!')
  }, 70_000)

  it('attw (are the types wrong) is clean on the ESM profile', async () => {
    const r = await run(BIN('attw'), [tarball, '--profile', 'esm-only', '--format', 'json'], { cwd: work, timeout: 60_000 })
    expect(r.code, describeRun('attw', r)).toBe(0)
    const { analysis } = JSON.parse(r.stdout) as { analysis: { entrypoints: Record<string, unknown>, problems: Array<{ kind: string, entrypoint?: string, resolutionKind?: string }> } }
    // every entry point package.json exports, no more, no fewer
    const exported = Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).exports).sort()
    expect(Object.keys(analysis.entrypoints).sort()).toEqual(exported)
    // the ESM profile leaves out CommonJS (node16-cjs) and pre-exports (node10) resolution
    expect(analysis.problems.filter(p => p.resolutionKind !== 'node10' && p.resolutionKind !== 'node16-cjs')).toEqual([])
  }, 70_000)
})
