/**
 * Errors of the browser node, each saying what to do about it.
 */

/**
 * A configured relay address the browser node cannot use as given: not a
 * multiaddr, no `/p2p/<relay id>`, or one the browser's connection gater
 * refuses (plain `ws://`, or a loopback or private host) without
 * `allowInsecureRelays: true`. `createBrowserNode()` rejects with it at once.
 */
export class RelayAddressError extends Error {
  static override name = 'RelayAddressError'
  override name = 'RelayAddressError'
  constructor (readonly address: string, message: string) {
    super(message)
  }
}

/** Why one relay gave no reservation: its address and the last dial error, if any. */
export interface RelayFailure {
  address: string
  /** The last error dialing it, or why the connection gave no reservation; undefined if no attempt ended yet. */
  error?: string
}

/** No relay reservation was reached within the wait: `relays` names each relay and its last error. */
export class RelayUnreachableError extends Error {
  static override name = 'RelayUnreachableError'
  override name = 'RelayUnreachableError'
  constructor (readonly relays: RelayFailure[], waited: number) {
    super(`No relay reservation after ${waited} ms: ${relays.map(r => `${r.address} (${r.error ?? 'no answer yet'})`).join('; ')}`)
  }
}
