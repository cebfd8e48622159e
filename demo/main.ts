/**
 * The demo chat page: choose a name, join a room, chat with the peers there.
 *
 * Everything a reload must keep is kept: the identity (loadIdentity: a key in
 * IndexedDB, one per tab), the name and room (localStorage, per identity),
 * the history with delivery states (localStorage, per identity and room,
 * see history.ts), unsent messages (the messenger's outbox in IndexedDB) and
 * what was received (confirmed-mode receipts in localStorage, so a resent
 * message is never shown twice).
 *
 * The relay comes from `?relay=<multiaddr>`, else `relay.json` next to this
 * page (served by `npm start`, see vite.config.ts), else VITE_RELAY at build time.
 */
import { createBrowserNode, loadIdentity } from '../src/browser/index.js'
import { createMessenger, indexedDBOutboxStore, json, localStorageReceipts, openOutbox } from '../src/index.js'
import { createTransfers, indexedDBTransferStore } from '../src/transfer/index.js'
import { Files } from './files.js'
import { ChatApp, RECENT_PEER, type Me } from './app.js'
import { $ } from './dom.js'
import { History, type Profile, type WireMessage } from './history.js'
import { clean, suggestName } from './names.js'
import type { PrivateKey } from '@libp2p/interface'

const DEFAULT_ROOM = 'lobby'
const PROTOCOL = '/libp2p-messenger-demo/chat/1.0.0'
const NAME_MAX = 40
const ROOM_MAX = 60

const params = new URLSearchParams(location.search)
const relayFromUrl = clean(params.get('relay'), 1000)

const meKey = (peerId: string): string => `lp2pm-demo/${peerId}/me`

function readMe (peerId: string): Partial<Me> | undefined {
  try {
    return JSON.parse(localStorage.getItem(meKey(peerId)) ?? 'null') ?? undefined
  } catch {
    return undefined
  }
}

function saveMe (me: Me): void {
  try {
    localStorage.setItem(meKey(me.id), JSON.stringify({ name: me.name, room: me.room }))
  } catch {}
}

function roomUrl (room: string, withRelay: boolean): string {
  const url = new URL(location.href)
  url.search = ''
  url.hash = ''
  url.searchParams.set('room', room)
  if (withRelay && relayFromUrl != null) url.searchParams.set('relay', relayFromUrl)
  return url.toString()
}

function status (text: string, kind: 'info' | 'error' = 'info'): void {
  const el = $('#intro-status')
  el.textContent = text
  el.dataset.kind = kind
}

function fail (text: string, detail?: unknown): void {
  if (detail != null) console.error(detail)
  $('#intro').hidden = false
  $('#app').hidden = true
  $('#join-form').hidden = true
  status(text, 'error')
}

/** The relay's multiaddr: ?relay=, relay.json, VITE_RELAY. */
async function findRelay (): Promise<string | undefined> {
  if (relayFromUrl != null) return relayFromUrl
  try {
    const res = await fetch(new URL('relay.json', location.href), { cache: 'no-store', signal: AbortSignal.timeout(5_000) })
    if (res.ok) {
      const body = await res.json() as { relay?: string }
      if (typeof body.relay === 'string' && body.relay !== '') return body.relay
    }
  } catch {}
  const env = (import.meta as unknown as { env?: Record<string, string | undefined> }).env
  return clean(env?.VITE_RELAY, 1000)
}

/**
 * This tab's identity: `loadIdentity()` (IndexedDB and Web Locks). Pages on
 * plain http from a LAN address (`npm start -- --host 0.0.0.0`, opened on a
 * phone) are not a secure context and have no Web Locks: there the SDK keeps
 * the key in sessionStorage (slot -1), which survives reloads too.
 */
async function tabIdentity (): Promise<{ privateKey: PrivateKey, peerId: string, secure: boolean }> {
  const identity = await loadIdentity({ namespace: 'demo' })
  return { privateKey: identity.privateKey, peerId: identity.peerId.toString(), secure: identity.slot >= 0 }
}

/** Show the join form; resolves with what was entered. */
async function askJoin (name: string, room: string): Promise<{ name: string, room: string }> {
  const form = $<HTMLFormElement>('#join-form')
  const nameInput = $<HTMLInputElement>('#join-name')
  const roomInput = $<HTMLInputElement>('#join-room')
  nameInput.value = name
  roomInput.value = room
  form.hidden = false
  status(params.has('room') ? `You are invited to the room “${room}”.` : 'Pick a name and a room.')
  nameInput.focus()
  nameInput.select()
  return new Promise((resolve) => {
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      const n = clean(nameInput.value, NAME_MAX)
      const r = clean(roomInput.value, ROOM_MAX)
      if (n == null || r == null) return
      form.hidden = true
      resolve({ name: n, room: r })
    })
  })
}

async function main (): Promise<void> {
  status('Loading your identity…')
  const identity = await tabIdentity()
  const peerId = identity.peerId
  $('#intro-id').textContent = `Your peer id: ${peerId}`
  if (!identity.secure) console.warn('not a secure context (http on a network address): this tab keeps its identity in sessionStorage')

  const stored = readMe(peerId)
  const urlRoom = clean(params.get('room'), ROOM_MAX)
  let room = urlRoom ?? clean(stored?.room, ROOM_MAX) ?? DEFAULT_ROOM
  let name = clean(stored?.name, NAME_MAX)
  if (name == null) {
    ({ name, room } = await askJoin(suggestName(), room))
  }
  const me: Me = { id: peerId, name, room }
  saveMe(me)
  // the address bar is the invite link
  if (urlRoom !== room) history.replaceState(null, '', roomUrl(room, true))

  status('Finding the relay…')
  const relay = await findRelay()
  if (relay == null) {
    fail('No relay configured. Start the demo with `npm start`, or add ?relay=<relay multiaddr> to the address.')
    return
  }

  status(`Joining “${room}”…`)
  // a development relay on ws:// or a private address must be allowed explicitly
  const insecure = /\/ws(\/|$)/.test(relay) || /^\/ip[46]\/(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1\/|f[cd])/.test(relay)
  let node
  try {
    node = await createBrowserNode({ relays: [relay], room, allowInsecureRelays: insecure, privateKey: identity.privateKey })
  } catch (err: any) {
    fail(`Could not start: ${err?.message ?? err}`, err)
    return
  }
  const outbox = await openOutbox(indexedDBOutboxStore({ name: `libp2p-messenger-demo/outbox/${peerId}` }))
  const messenger = createMessenger<WireMessage>(node, {
    protocol: PROTOCOL,
    codec: json<WireMessage>(),
    delivery: 'confirmed',
    outbox,
    receipts: localStorageReceipts(`demo/${peerId}`),
    // a peer that stays away longer is given up on (a 'drop' event: "not delivered")
    queueTtl: RECENT_PEER * 3,
    maxMessageSize: 64 * 1024
  })
  const profiles = messenger.channel<Profile>('profile', { codec: json<Profile>(), delivery: 'confirmed', queueTtl: RECENT_PEER, maxMessageSize: 4 * 1024 })
  const chatHistory = new History(`lp2pm-demo/${peerId}/history/${room}`)

  const app = new ChatApp({
    node,
    messenger,
    profiles,
    history: chatHistory,
    me,
    saveMe,
    inviteLink: (r) => roomUrl(r, true),
    switchRoom: (r) => {
      me.room = r
      saveMe(me)
      location.assign(roomUrl(r, true))
    }
  })
  const transfers = createTransfers(messenger, { store: indexedDBTransferStore({ name: `libp2p-messenger-demo/transfers/${peerId}` }) })
  const files = new Files({
    transfers,
    list: $<HTMLUListElement>('#files'),
    input: $<HTMLInputElement>('#file-input'),
    attach: $<HTMLButtonElement>('#attach'),
    dropZone: $('#conversation'),
    recipients: () => app.recipients(),
    nameOf: (id) => app.displayName(id)
  })
  globalThis.addEventListener('pagehide', () => { files.stop() })
  $('#intro').hidden = true
  app.start()
  await messenger.ready
  document.body.dataset.ready = 'true'
  // for the curious, in the console
  Object.assign(globalThis, { demo: { node, messenger, profiles, transfers, history: chatHistory, me } })
}

main().catch((err) => { fail(`Something went wrong: ${err?.message ?? err}`, err) })
