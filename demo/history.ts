/**
 * What the chat page remembers, per identity and room, in localStorage: the
 * messages it showed (with, for our own, each recipient's delivery state and
 * the sequence number the messenger gave the message on that recipient's
 * lane) and the peers it met. localStorage is synchronous: a received message
 * is stored in the same task in which the messenger hands it over (and writes
 * its confirmed-mode receipt), so no reload can come between the two.
 */

/** A conversation: the room, or direct messages with one peer. */
export type ConvId = 'room' | `dm:${string}`

/** What goes on the wire on the chat channel (json codec). */
export interface WireMessage {
  /** random, unique: duplicates are dropped by id */
  id: string
  room: string
  kind: 'room' | 'dm'
  /** the author's display name when sent */
  name: string
  text: string
  /** the author's clock, ms; messages are shown in (ts, id) order */
  ts: number
}

/** What goes on the wire on the profile channel. */
export interface Profile {
  name: string
  room: string
  /** true: "here I am", answered with our own profile (hello: false) */
  hello: boolean
}

export type RecipientState = 'queued' | 'sent' | 'delivered' | 'dropped'

export interface Recipient {
  /** sequence number on our lane to that peer (the messenger's `send()` result) */
  seq: number
  state: RecipientState
  /** why it was dropped */
  reason?: string
}

export interface StoredMessage {
  id: string
  conv: ConvId
  /** author peer id */
  author: string
  name: string
  text: string
  ts: number
  mine: boolean
  /** our own messages: per recipient peer id */
  recipients?: Record<string, Recipient>
}

export interface KnownPeer {
  name?: string
  /** the room it said it is in */
  room?: string
  /** last time it was connected (ms) */
  lastSeen: number
}

/** Messages kept per identity and room; the oldest go first. */
export const MAX_MESSAGES = 1000

const RANK: Record<RecipientState, number> = { queued: 0, sent: 1, delivered: 2, dropped: 2 }

export function isWireMessage (v: any): v is WireMessage {
  return v != null && typeof v === 'object' &&
    typeof v.id === 'string' && v.id.length > 0 && v.id.length <= 64 &&
    typeof v.room === 'string' && (v.kind === 'room' || v.kind === 'dm') &&
    typeof v.name === 'string' && typeof v.text === 'string' && v.text.length <= 4000 &&
    typeof v.ts === 'number' && Number.isFinite(v.ts)
}

export function isProfile (v: any): v is Profile {
  return v != null && typeof v === 'object' && typeof v.name === 'string' && typeof v.room === 'string' && typeof v.hello === 'boolean'
}

/** (ts, id) order: the same on every tab. */
export function compareMessages (a: StoredMessage, b: StoredMessage): number {
  return a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

export class History {
  readonly messages = new Map<string, StoredMessage>()
  readonly peers = new Map<string, KnownPeer>()
  private readonly key: string
  private readonly storage: Storage | undefined
  /** per peer: sequence number → id of our message still waiting for an outcome there */
  private readonly waiting = new Map<string, Map<number, string>>()
  private timer?: ReturnType<typeof setTimeout>
  private lastTs = 0

  constructor (key: string, storage: Storage | undefined = globalThis.localStorage) {
    this.key = key
    this.storage = storage
    this.load()
  }

  private load (): void {
    let raw: string | null = null
    try { raw = this.storage?.getItem(this.key) ?? null } catch {}
    if (raw == null) return
    try {
      const data = JSON.parse(raw) as { messages?: StoredMessage[], peers?: Record<string, KnownPeer> }
      for (const m of data.messages ?? []) {
        this.messages.set(m.id, m)
        this.lastTs = Math.max(this.lastTs, m.mine ? m.ts : 0)
        for (const [peer, r] of Object.entries(m.recipients ?? {})) {
          if (RANK[r.state] < 2) this.wait(peer, r.seq, m.id)
        }
      }
      for (const [id, p] of Object.entries(data.peers ?? {})) {
        this.peers.set(id, p)
      }
    } catch {
      // unreadable: start over rather than fail
    }
  }

  /** Write now (synchronous). */
  save (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    let messages = [...this.messages.values()]
    if (messages.length > MAX_MESSAGES) {
      messages.sort(compareMessages)
      for (const m of messages.slice(0, messages.length - MAX_MESSAGES)) this.messages.delete(m.id)
      messages = messages.slice(messages.length - MAX_MESSAGES)
    }
    try {
      this.storage?.setItem(this.key, JSON.stringify({ messages, peers: Object.fromEntries(this.peers) }))
    } catch (err) {
      console.warn('chat history not saved:', err)
    }
  }

  /** Write within a moment (delivery states change in bursts). */
  saveSoon (): void {
    this.timer ??= setTimeout(() => { this.save() }, 250)
  }

  /** A timestamp for our next message: never behind our previous one. */
  nextTs (): number {
    this.lastTs = Math.max(Date.now(), this.lastTs + 1)
    return this.lastTs
  }

  /** Add a message; false if one with its id is already here. */
  add (m: StoredMessage): boolean {
    if (this.messages.has(m.id)) return false
    this.messages.set(m.id, m)
    return true
  }

  list (conv: ConvId): StoredMessage[] {
    return [...this.messages.values()].filter(m => m.conv === conv).sort(compareMessages)
  }

  /** Note the sequence number the messenger gave our message `id` on `peer`'s lane. */
  track (id: string, peer: string, seq: number): void {
    const m = this.messages.get(id)
    if (m == null) return
    m.recipients ??= {}
    if (seq > 0) {
      m.recipients[peer] = { seq, state: 'queued' }
      this.wait(peer, seq, id)
    } else {
      m.recipients[peer] = { seq, state: 'dropped', reason: 'queue-full' }
    }
  }

  private wait (peer: string, seq: number, id: string): void {
    let byPeer = this.waiting.get(peer)
    if (byPeer == null) {
      byPeer = new Map()
      this.waiting.set(peer, byPeer)
    }
    // a number reused on a new lane: the newer message owns it
    byPeer.set(seq, id)
  }

  /**
   * Messages [first, last] to `peer` reached `state` (a 'sent', 'delivered'
   * or 'drop' event). Returns the messages that changed.
   */
  advance (peer: string, first: number, last: number, state: RecipientState, reason?: string): StoredMessage[] {
    const byPeer = this.waiting.get(peer)
    if (byPeer == null) return []
    const changed: StoredMessage[] = []
    for (const [seq, id] of byPeer) {
      if (seq < first || seq > last) continue
      const m = this.messages.get(id)
      const r = m?.recipients?.[peer]
      if (m == null || r == null || r.seq !== seq) {
        byPeer.delete(seq)
        continue
      }
      if (RANK[state] <= RANK[r.state]) continue
      r.state = state
      if (reason != null) r.reason = reason
      if (RANK[state] >= 2) byPeer.delete(seq)
      changed.push(m)
    }
    if (byPeer.size === 0) this.waiting.delete(peer)
    return changed
  }

  /** Remember a peer (merging what we knew). */
  peer (id: string, update: Partial<KnownPeer>): KnownPeer {
    const p = { ...(this.peers.get(id) ?? { lastSeen: 0 }), ...update }
    this.peers.set(id, p)
    return p
  }
}

/**
 * One line for the status of our message, e.g. "Delivered", "Delivered to 2 of 3",
 * "Queued". `state` is the overall state used for styling.
 */
export function summarize (m: StoredMessage): { state: RecipientState | 'alone', text: string } {
  const rs = Object.values(m.recipients ?? {})
  if (rs.length === 0) return { state: 'alone', text: 'No one else in the room' }
  const n = (s: RecipientState): number => rs.filter(r => r.state === s).length
  const delivered = n('delivered')
  const dropped = n('dropped')
  const sent = n('sent')
  const dm = m.conv !== 'room'
  if (dm) {
    const r = rs[0]
    return { state: r.state, text: r.state === 'delivered' ? 'Delivered' : r.state === 'sent' ? 'Sent' : r.state === 'dropped' ? 'Not delivered' : 'Queued' }
  }
  const total = rs.length
  if (delivered === total) return { state: 'delivered', text: total === 1 ? 'Delivered' : total === 2 ? 'Delivered to both' : `Delivered to all ${total}` }
  if (dropped === total) return { state: 'dropped', text: 'Not delivered' }
  const failed = dropped > 0 ? ` · ${dropped} failed` : ''
  if (delivered > 0) return { state: 'sent', text: `Delivered to ${delivered} of ${total}${failed}` }
  if (sent > 0) return { state: 'sent', text: `Sent${failed}` }
  return { state: 'queued', text: `Queued${failed}` }
}
