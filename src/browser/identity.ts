/**
 * A browser tab's identity, kept across reloads and never shared between tabs.
 *
 * Keys live in IndexedDB, in numbered slots. A tab holds a Web Lock on its
 * slot for as long as it lives, so two tabs of one origin can never use the
 * same key (or drain the same outbox, which is named after the key). A
 * reloaded tab remembers its slot in sessionStorage and gets the same key
 * back; a duplicated tab copies that sessionStorage but finds the slot locked
 * by the original, so it takes another one. A tab opened later takes the
 * first free slot, so a closed tab's identity (and its pending messages) is
 * picked up by the next tab.
 *
 * ```ts
 * const identity = await loadIdentity()
 * const node = await createBrowserNode({ relays, privateKey: identity.privateKey })
 * ```
 *
 * Where Web Locks are missing (a page that is not a secure context, such as
 * plain http on a LAN address) the key is kept in the tab's sessionStorage
 * instead: it survives reloads, but a duplicated tab shares it.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { openDB } from 'idb'
import type { PeerId, PrivateKey, AbortOptions } from '@libp2p/interface'

export interface IdentityInit extends AbortOptions {
  /** Separate sets of identities (e.g. per app on one origin). @default 'default' */
  namespace?: string
  /** How long a reloaded tab waits for its previous document to release its slot. @default 2 s */
  reloadWait?: number
}

export interface Identity {
  privateKey: PrivateKey
  peerId: PeerId
  /** The slot this tab holds. */
  slot: number
  /** Release the slot (done automatically when the tab goes away). */
  release(): void
}

interface KeyRecord { slot: number, key: Uint8Array, createdAt: number }

const DB = 'libp2p-messenger/identities'

export async function loadIdentity (init: IdentityInit = {}): Promise<Identity> {
  const ns = init.namespace ?? 'default'
  const sessionKey = `libp2p-messenger/slot/${ns}`
  const locks = globalThis.navigator?.locks
  if (locks == null) {
    // not a secure context (plain http on a LAN address): no Web Locks
    return sessionIdentity(ns)
  }
  const db = await openDB<any>(DB, 1, {
    upgrade (d) { d.createObjectStore('keys', { keyPath: ['ns', 'slot'] }) }
  })
  try {
    const records = (await db.getAll('keys', IDBKeyRange.bound([ns, 0], [ns, Number.MAX_SAFE_INTEGER]))) as Array<KeyRecord & { ns: string }>
    const preferred = Number(sessionStorage.getItem(sessionKey) ?? NaN)
    const candidates = records.map(r => r.slot).sort((a, b) => a - b)

    let held: { slot: number, release: () => void } | undefined
    if (Number.isInteger(preferred)) {
      // a reload: the previous document may still hold the lock for a moment
      held = await acquire(locks, ns, preferred, init.reloadWait ?? 2_000, init.signal)
    }
    for (const slot of candidates) {
      if (held != null) break
      if (slot !== preferred) held = await acquire(locks, ns, slot, 0, init.signal)
    }
    let record: KeyRecord | undefined = held != null ? records.find(r => r.slot === held?.slot) : undefined
    if (held == null || record == null) {
      // a new identity in the next free slot number
      let slot = candidates.length > 0 ? candidates[candidates.length - 1] + 1 : 0
      while (held == null) {
        held = await acquire(locks, ns, slot, 0, init.signal)
        if (held == null) slot++
      }
      const key = await generateKeyPair('Ed25519')
      const created: KeyRecord = { slot: held.slot, key: privateKeyToProtobuf(key), createdAt: Date.now() }
      await db.put('keys', { ns, ...created })
      record = created
    }
    sessionStorage.setItem(sessionKey, String(held.slot))
    const privateKey = privateKeyFromProtobuf(record.key)
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey), slot: held.slot, release: held.release }
  } finally {
    db.close()
  }
}

/**
 * Without Web Locks: the key lives in this tab's sessionStorage. It survives
 * reloads; a duplicated tab copies sessionStorage and so shares the identity.
 */
async function sessionIdentity (ns: string): Promise<Identity> {
  const keyName = `libp2p-messenger/session-key/${ns}`
  const stored = sessionStorage.getItem(keyName)
  let privateKey: PrivateKey
  if (stored != null) {
    privateKey = privateKeyFromProtobuf(Uint8Array.from(atob(stored), c => c.charCodeAt(0)))
  } else {
    privateKey = await generateKeyPair('Ed25519')
    sessionStorage.setItem(keyName, btoa(String.fromCharCode(...privateKeyToProtobuf(privateKey))))
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), slot: -1, release: () => {} }
}

/** Take the lock of a slot, waiting up to `wait` ms; undefined if it stays taken. */
async function acquire (locks: LockManager, ns: string, slot: number, wait: number, signal?: AbortSignal): Promise<{ slot: number, release: () => void } | undefined> {
  const name = `libp2p-messenger/identity/${ns}/${slot}`
  const deadline = Date.now() + wait
  while (true) {
    signal?.throwIfAborted()
    const got = await new Promise<(() => void) | undefined>((resolve) => {
      void locks.request(name, { ifAvailable: true }, async (lock) => {
        if (lock == null) {
          resolve(undefined)
          return
        }
        // hold the lock until released or the tab goes away
        await new Promise<void>((_resolve) => { resolve(_resolve) })
      })
    })
    if (got != null) return { slot, release: got }
    if (Date.now() >= deadline) return undefined
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
