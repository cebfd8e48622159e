/**
 * Starts one relay for the whole run; tests read its address from
 * E2E_RELAY. (Tests that kill a relay start their own.)
 */
import { RelayProcess } from './relay-process.js'

export default async function globalSetup (): Promise<() => Promise<void>> {
  const relay = new RelayProcess()
  await relay.start()
  process.env.E2E_RELAY = relay.address
  return async () => { await relay.stop() }
}
