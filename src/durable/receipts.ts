/**
 * Confirmed mode, receiving side: per sender, the last sequence number the
 * application took. It is written the moment the application takes a message,
 * synchronously, so a reload can never come between "the app saw it" and
 * "it is recorded": after a reload the sender resends what was not
 * acknowledged and duplicates are dropped.
 */
import type { ReceiptStore } from '../core/channel.js'
import type { Receipt } from '../core/inbound-lane.js'

/** In memory (Node, tests): the messenger's default. */
export function memoryReceipts (): ReceiptStore {
  const map = new Map<string, Receipt>()
  return {
    get: (key) => map.get(key),
    set: (key, receipt) => { map.set(key, receipt) }
  }
}

/**
 * In `localStorage` (browsers): synchronous, so the record is written in the
 * same task in which the application receives the message. Namespace it per
 * identity.
 */
export function localStorageReceipts (namespace: string, storage: Storage = globalThis.localStorage): ReceiptStore {
  const prefix = `libp2p-messenger/receipt/${namespace}/`
  return {
    get (key) {
      try {
        const raw = storage.getItem(prefix + key)
        if (raw == null) return undefined
        const [epoch, seq] = raw.split(':')
        return { epoch, seq: Number(seq) }
      } catch {
        return undefined
      }
    },
    set (key, receipt) {
      try {
        storage.setItem(prefix + key, `${receipt.epoch}:${receipt.seq}`)
      } catch {
        // quota: the sender resends what we did not record; duplicates are then possible
      }
    }
  }
}
