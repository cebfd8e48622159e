/**
 * Builds the lab (namespaces, NAT routers) and starts the public servers
 * (coturn, relay, page server) once for the run; the teardown it returns
 * stops them and deletes every lp2pm- namespace. An exit handler does the
 * same synchronously if the runner dies first (interrupt, crash), and the
 * next run removes any leftovers before building.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import * as lab from './lab.js'
import { PublicServices } from './services.js'
import { FIGURES_FILE, figuresTable } from './figures.js'

export default async function globalSetup (): Promise<() => Promise<void>> {
  const problem = lab.preflight()
  if (problem != null) throw new Error(`network lab: ${problem}`)
  const stale = lab.ourNamespaces()
  if (stale.length > 0) console.info(`network lab: removing leftovers of an earlier run: ${stale.join(', ')}`)
  lab.build()
  process.once('exit', () => { lab.removeAll() })
  const services = new PublicServices()
  try {
    await services.start()
  } catch (err) {
    await services.stop().catch(() => {})
    lab.removeAll()
    throw err
  }
  process.env.LP2PM_NET_RELAY = services.relayAddress
  rmSync(FIGURES_FILE, { force: true })
  return async () => {
    await services.stop().catch((err: Error) => { console.error('network lab: stopping servers:', err.message) })
    lab.removeAll()
    const left = lab.ourNamespaces()
    if (left.length > 0) console.error(`network lab: namespaces left: ${left.join(', ')}`)
    if (existsSync(FIGURES_FILE)) {
      const table = figuresTable(readFileSync(FIGURES_FILE, 'utf8'))
      console.info(`\nnetwork lab figures (also in ${FIGURES_FILE.replace('.jsonl', '.md')}):\n${table}`)
    }
  }
}
