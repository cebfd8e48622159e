/**
 * The chat itself, once joined: conversations (the room and one per peer),
 * the peer list with connection badges, per-message delivery states, the
 * pending count and the offline banner.
 *
 * Room messages go to every peer of the room this tab knows: the ones
 * connected now and the ones seen in the last RECENT_PEER ms (a tab that is
 * reloading, a laptop that lost its network): the messenger queues for those
 * (durably, in the outbox) and delivers when they are back. Confirmed
 * delivery tells us when each recipient's application has the message.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { $, avatar, formatDateTime, formatTime, h, shortId } from './dom.js'
import { isProfile, isWireMessage, summarize } from './history.js'
import type { ConvId, History, Profile, StoredMessage, WireMessage } from './history.js'
import { NetworkStatus, type Net, type PeerConnection } from './network.js'
import type { BrowserNode } from '../src/browser/index.js'
import type { Channel, Messenger } from '../src/index.js'

/** Offline peers still sent room messages (and listed) for this long after we last saw them. */
export const RECENT_PEER = 10 * 60_000
/** Offline peers are listed this long (longer if we have direct messages with them). */
const LISTED_PEER = 24 * 3600_000

export interface Me {
  id: string
  name: string
  room: string
}

export interface ChatAppInit {
  node: BrowserNode
  messenger: Messenger<WireMessage>
  profiles: Channel<Profile>
  history: History
  me: Me
  /** store our name (and room) when they change */
  saveMe: (me: Me) => void
  /** the invite link for a room */
  inviteLink: (room: string) => string
  /** go to another room (a reload) */
  switchRoom: (room: string) => void
}

interface PeerRow {
  li: HTMLLIElement
  button: HTMLButtonElement
  name: HTMLSpanElement
  badge: HTMLSpanElement
  unread: HTMLSpanElement
  queued: HTMLSpanElement
  avatar: HTMLSpanElement
  key: string
}

export class ChatApp {
  private readonly node: BrowserNode
  private readonly messenger: Messenger<WireMessage>
  private readonly profiles: Channel<Profile>
  private readonly history: History
  private readonly me: Me
  private readonly init: ChatAppInit
  private active: ConvId = 'room'
  private readonly unread = new Map<ConvId, number>()
  private readonly rows = new Map<string, PeerRow>()
  private readonly network: NetworkStatus
  private roomRow?: { button: HTMLButtonElement, unread: HTMLSpanElement }
  private net: Net = 'connecting'
  private bannerTimer?: ReturnType<typeof setTimeout>
  private tick?: ReturnType<typeof setInterval>

  private readonly els = {
    app: $('#app'),
    banner: $('#banner'),
    roomName: $('#room-name'),
    copyLink: $<HTMLButtonElement>('#copy-link'),
    copyStatus: $('#copy-status'),
    net: $('#net'),
    pending: $('#pending'),
    settings: $<HTMLButtonElement>('#settings'),
    meName: $('#me-name'),
    meAvatar: $('#me-avatar'),
    roomConv: $('#room-conv'),
    peerList: $('#peer-list'),
    peerEmpty: $('#peer-empty'),
    peopleCount: $('#people-count'),
    convTitle: $('#conv-title'),
    convSub: $('#conv-sub'),
    messages: $<HTMLOListElement>('#messages'),
    composer: $<HTMLFormElement>('#composer'),
    text: $<HTMLTextAreaElement>('#composer-text'),
    composerLabel: $('#composer-label'),
    announcer: $('#announcer'),
    dialog: $<HTMLDialogElement>('#settings-dialog'),
    settingsForm: $<HTMLFormElement>('#settings-form'),
    settingsName: $<HTMLInputElement>('#settings-name'),
    settingsRoom: $<HTMLInputElement>('#settings-room'),
    settingsCancel: $<HTMLButtonElement>('#settings-cancel')
  }

  constructor (init: ChatAppInit) {
    this.init = init
    this.node = init.node
    this.messenger = init.messenger
    this.profiles = init.profiles
    this.history = init.history
    this.me = init.me
    this.network = new NetworkStatus(init.node, init.messenger)
  }

  start (): void {
    this.wireMessenger()
    this.wireUi()
    this.els.roomName.textContent = this.me.room
    this.renderMe()
    this.renderRoomConv()
    this.renderPeers()
    this.openConv(this.restoreActive(), false)
    this.refresh()
    this.tick = setInterval(() => { this.refresh() }, 1_000)
    this.els.app.hidden = false
    void this.receiveMessages()
    void this.receiveProfiles()
  }

  // --- messenger ---

  private wireMessenger (): void {
    const m = this.messenger
    m.addEventListener('peer:join', (e) => {
      this.history.peer(e.detail.toString(), { lastSeen: Date.now() })
      this.history.saveSoon()
      this.renderPeers()
      this.renderConvHeader()
    })
    m.addEventListener('peer:leave', (e) => {
      this.history.peer(e.detail.toString(), { lastSeen: Date.now() })
      this.history.saveSoon()
      this.renderPeers()
      this.renderConvHeader()
    })
    m.addEventListener('sent', (e) => { this.advance(e.detail.peer.toString(), e.detail.first, e.detail.last, 'sent') })
    m.addEventListener('delivered', (e) => { this.advance(e.detail.peer.toString(), e.detail.first, e.detail.last, 'delivered') })
    m.addEventListener('drop', (e) => {
      // messages refused by a full queue carry no numbers: send() returned -1 for them (see send())
      if (e.detail.reason !== 'stopped' && e.detail.first != null && e.detail.last != null) this.advance(e.detail.peer.toString(), e.detail.first, e.detail.last, 'dropped', e.detail.reason)
    })
    m.addEventListener('error', (e) => { console.debug(`[messenger] ${e.detail.channel}: ${e.detail.error.message}`) })
    // say who we are to every peer that arrives; it answers with its own
    this.profiles.addEventListener('peer:join', (e) => { this.sendProfile(e.detail.toString(), true) })
    this.node.services.relays.addEventListener('reservation:change', () => { this.refresh() })
    // a badge changes when the SDK says how a peer is reached: relayed, direct, or gone
    m.addEventListener('connection', (e) => {
      this.renderPeers()
      this.renderConvHeader()
      void this.network.connectionChanged(e.detail.peer.toString(), e.detail.connection != null, () => { this.renderPeers() })
    })
    // the network is back: the relay keeper dials the relay at once by itself; show it
    globalThis.addEventListener('online', () => { this.refresh() })
    globalThis.addEventListener('offline', () => { this.refresh() })
    globalThis.addEventListener('pagehide', () => { this.history.save() })
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.history.save()
      else this.updateTitle()
    })
  }

  private sendProfile (peer: string, hello: boolean): void {
    try {
      this.profiles.send(peerIdFromString(peer), { name: this.me.name, room: this.me.room, hello })
    } catch (err) {
      console.warn('profile not sent:', err)
    }
  }

  private async receiveMessages (): Promise<void> {
    try {
      for await (const { from, data } of this.messenger) {
        // stored before anything else: the messenger has just recorded that we took it
        this.onMessage(from.toString(), data)
      }
    } catch (err) {
      console.warn('message loop ended:', err)
    }
  }

  private async receiveProfiles (): Promise<void> {
    try {
      for await (const { from, data } of this.profiles) {
        if (!isProfile(data)) continue
        const id = from.toString()
        const before = this.history.peers.get(id)?.name
        const name = data.name.replace(/\s+/g, ' ').trim().slice(0, 40) || undefined
        this.history.peer(id, { name, room: data.room })
        this.history.saveSoon()
        if (data.hello) this.sendProfile(id, false)
        this.renderPeers()
        if (before !== name) {
          this.renderConvHeader()
          this.renderMessages()
        }
      }
    } catch (err) {
      console.warn('profile loop ended:', err)
    }
  }

  private onMessage (from: string, data: WireMessage): void {
    if (!isWireMessage(data)) {
      console.warn('malformed message from', from)
      return
    }
    if (data.kind === 'room' && data.room !== this.me.room) {
      return // from another room
    }
    const conv: ConvId = data.kind === 'room' ? 'room' : `dm:${from}`
    const m: StoredMessage = { id: data.id, conv, author: from, name: data.name.slice(0, 40), text: data.text, ts: data.ts, mine: false }
    const known = this.history.peers.get(from)
    if (known?.name == null) this.history.peer(from, { name: m.name })
    if (!this.history.add(m)) return // a duplicate
    this.history.save()
    if (conv === this.active) {
      this.insertMessage(m)
    } else {
      this.unread.set(conv, (this.unread.get(conv) ?? 0) + 1)
      this.renderUnread()
      const where = conv === 'room' ? `in ${this.me.room}` : 'direct message'
      this.announce(`New message from ${this.nameOf(from)}, ${where}: ${m.text}`)
    }
    if (document.visibilityState === 'hidden') this.updateTitle()
  }

  private advance (peer: string, first: number, last: number, state: 'sent' | 'delivered' | 'dropped', reason?: string): void {
    const changed = this.history.advance(peer, first, last, state, reason)
    if (changed.length === 0) return
    this.history.saveSoon()
    for (const m of changed) {
      if (m.conv === this.active) this.updateStatus(m)
    }
    this.renderPending()
  }

  /** Send `text` to the open conversation. */
  send (text: string): void {
    const conv = this.active
    const kind = conv === 'room' ? 'room' : 'dm'
    const wire: WireMessage = { id: randomId(), room: this.me.room, kind, name: this.me.name, text, ts: this.history.nextTs() }
    const m: StoredMessage = { id: wire.id, conv, author: this.me.id, name: wire.name, text, ts: wire.ts, mine: true, recipients: {} }
    const to = conv === 'room' ? this.roomRecipients() : [conv.slice(3)]
    this.history.add(m)
    for (const peer of to) {
      let seq = -1
      try {
        seq = this.messenger.send(peerIdFromString(peer), wire)
      } catch (err) {
        console.warn('not sent:', err)
      }
      this.history.track(m.id, peer, seq)
    }
    this.history.save()
    this.insertMessage(m, true)
    this.renderPending()
  }

  /** Room peers: connected now, or seen recently (reloading, briefly offline). */
  private roomRecipients (): string[] {
    const online = new Set(this.onlinePeers())
    const now = Date.now()
    const out = [...online]
    for (const [id, p] of this.history.peers) {
      if (online.has(id) || id === this.me.id) continue
      if (p.room != null && p.room !== this.me.room) continue
      if (now - p.lastSeen < RECENT_PEER) out.push(id)
    }
    return out
  }

  private onlinePeers (): string[] {
    return this.messenger.peers().map(p => p.toString()).filter(id => {
      const room = this.history.peers.get(id)?.room
      return id !== this.me.id && (room == null || room === this.me.room)
    })
  }

  private nameOf (id: string): string {
    if (id === this.me.id) return this.me.name
    return this.history.peers.get(id)?.name ?? `Peer ${shortId(id)}`
  }

  /** The peers of the conversation shown now (a direct message: that peer; the room: who is online in it). */
  recipients (): string[] {
    return this.active === 'room' ? this.onlinePeers() : [this.active.slice('dm:'.length)]
  }

  /** A peer's display name. */
  displayName (id: string): string {
    return this.nameOf(id)
  }

  /** How a peer is connected, for its badge. */
  private connectionOf (id: string, online: boolean): PeerConnection {
    return this.network.peer(id, online)
  }

  // --- UI ---

  private wireUi (): void {
    const { text, composer, copyLink, settings, dialog, settingsForm, settingsCancel } = this.els
    composer.addEventListener('submit', (e) => {
      e.preventDefault()
      const value = text.value.replace(/\s+$/, '').replace(/^\s*\n/, '')
      if (value.trim() === '') return
      this.send(value)
      text.value = ''
      this.autosize()
      text.focus()
    })
    text.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault()
        composer.requestSubmit()
      }
    })
    text.addEventListener('input', () => { this.autosize() })
    // keep the newest message in view when the window (a phone's keyboard) resizes
    const list = this.els.messages
    let pinned = true
    list.addEventListener('scroll', () => { pinned = list.scrollHeight - list.scrollTop - list.clientHeight < 80 })
    new ResizeObserver(() => { if (pinned) list.scrollTop = list.scrollHeight }).observe(list)
    copyLink.addEventListener('click', () => { void this.copyInvite() })
    settings.addEventListener('click', () => {
      this.els.settingsName.value = this.me.name
      this.els.settingsRoom.value = this.me.room
      dialog.showModal()
      this.els.settingsName.select()
    })
    settingsCancel.addEventListener('click', () => { dialog.close() })
    settingsForm.addEventListener('submit', (e) => {
      e.preventDefault()
      const name = this.els.settingsName.value.replace(/\s+/g, ' ').trim().slice(0, 40)
      const room = this.els.settingsRoom.value.replace(/\s+/g, ' ').trim().slice(0, 60)
      if (name === '' || room === '') return
      dialog.close()
      if (name !== this.me.name) this.rename(name)
      if (room !== this.me.room) {
        this.history.save()
        this.init.switchRoom(room)
      }
    })
  }

  private rename (name: string): void {
    this.me.name = name
    this.init.saveMe(this.me)
    this.renderMe()
    this.renderMessages()
    for (const peer of this.messenger.peers()) this.sendProfile(peer.toString(), false)
  }

  private async copyInvite (): Promise<void> {
    const link = this.init.inviteLink(this.me.room)
    let ok = false
    try {
      await navigator.clipboard.writeText(link)
      ok = true
    } catch {
      // not a secure context (a LAN address over http): the old way
      const area = h('textarea', { class: 'visually-hidden', readonly: true })
      area.value = link
      document.body.append(area)
      area.select()
      try { ok = document.execCommand('copy') } catch {}
      area.remove()
    }
    this.els.copyStatus.textContent = ok ? 'Link copied' : `Copy this link: ${link}`
    setTimeout(() => { this.els.copyStatus.textContent = '' }, ok ? 2_500 : 15_000)
  }

  private autosize (): void {
    const t = this.els.text
    t.style.height = 'auto'
    t.style.height = `${Math.min(t.scrollHeight, 160)}px`
  }

  private announce (text: string): void {
    this.els.announcer.textContent = ''
    // a new node, so the same text twice is announced twice
    this.els.announcer.append(h('span', { text }))
  }

  private renderMe (): void {
    this.els.meName.textContent = this.me.name
    const a = avatar(this.me.id, this.me.name, 'tiny')
    a.id = 'me-avatar'
    this.els.meAvatar.replaceWith(a)
    this.els.meAvatar = a
    this.els.settings.title = `You: ${this.me.name} (${this.me.id})`
  }

  private renderRoomConv (): void {
    const unread = h('span', { class: 'unread', hidden: true })
    const button = h('button', { type: 'button', class: 'conv', 'data-conv': 'room' },
      h('span', { class: 'avatar room', 'aria-hidden': 'true' }, '#'),
      h('span', { class: 'conv-main' }, h('span', { class: 'conv-name', text: this.me.room }), h('span', { class: 'conv-meta', text: 'Everyone in the room' })),
      unread)
    button.addEventListener('click', () => { this.openConv('room') })
    this.els.roomConv.append(h('li', {}, button))
    this.roomRow = { button, unread }
  }

  /** The peer list: online first, then offline (greyed); each with a connection badge. */
  private renderPeers (): void {
    const online = new Set(this.onlinePeers())
    const now = Date.now()
    const ids = new Set(online)
    for (const [id, p] of this.history.peers) {
      if (id === this.me.id || (p.room != null && p.room !== this.me.room)) continue
      const hasDm = this.hasDm(id)
      if (hasDm || now - p.lastSeen < LISTED_PEER) ids.add(id)
    }
    if (this.active !== 'room') ids.add(this.active.slice(3))
    const sorted = [...ids].sort((a, b) => Number(online.has(b)) - Number(online.has(a)) || this.nameOf(a).localeCompare(this.nameOf(b)) || a.localeCompare(b))

    for (const [id, row] of this.rows) {
      if (!ids.has(id)) {
        row.li.remove()
        this.rows.delete(id)
      }
    }
    const focused = document.activeElement
    let moved = false
    sorted.forEach((id, i) => {
      let row = this.rows.get(id)
      if (row == null) {
        row = this.peerRow(id)
        this.rows.set(id, row)
      }
      const isOnline = online.has(id)
      const conn = this.connectionOf(id, isOnline)
      const name = this.nameOf(id)
      const queued = isOnline || this.history.peers.has(id) ? this.safePending(id) : 0
      const key = `${name}|${conn.kind}|${queued}`
      if (row.key !== key) {
        row.key = key
        row.name.textContent = name
        row.badge.textContent = conn.label
        row.badge.dataset.conn = conn.kind
        row.badge.title = conn.long
        row.li.dataset.conn = conn.kind
        row.li.classList.toggle('offline', !isOnline)
        row.queued.hidden = queued === 0
        row.queued.textContent = queued > 0 ? `${queued} queued` : ''
        const a = avatar(id, name)
        row.avatar.replaceWith(a)
        row.avatar = a
      }
      if (this.els.peerList.children[i] !== row.li) {
        this.els.peerList.insertBefore(row.li, this.els.peerList.children[i] ?? null)
        moved = true
      }
    })
    if (moved && focused instanceof HTMLElement && focused !== document.activeElement) focused.focus()
    this.els.peerEmpty.hidden = sorted.length > 0
    this.els.peopleCount.textContent = `${online.size} online`
    this.renderUnread()
  }

  private peerRow (id: string): PeerRow {
    const name = h('span', { class: 'conv-name' })
    const badge = h('span', { class: 'badge' })
    const queued = h('span', { class: 'queued', hidden: true })
    const unread = h('span', { class: 'unread', hidden: true })
    const av = avatar(id, this.nameOf(id))
    const button = h('button', { type: 'button', class: 'conv', 'data-conv': `dm:${id}`, 'data-peer': id, title: id },
      av,
      h('span', { class: 'conv-main' }, name, h('span', { class: 'conv-meta' }, badge, queued)),
      unread)
    button.addEventListener('click', () => { this.openConv(`dm:${id}`) })
    const li = h('li', { class: 'peer', 'data-peer': id }, button)
    return { li, button, name, badge, unread, queued, avatar: av, key: '' }
  }

  private safePending (id: string): number {
    try { return this.messenger.pending(peerIdFromString(id)) } catch { return 0 }
  }

  private hasDm (id: string): boolean {
    const conv = `dm:${id}`
    for (const m of this.history.messages.values()) if (m.conv === conv) return true
    return false
  }

  private renderUnread (): void {
    const set = (el: HTMLElement, button: HTMLElement, n: number): void => {
      el.hidden = n === 0
      el.textContent = n > 99 ? '99+' : String(n)
      el.setAttribute('aria-label', `${n} unread`)
      button.classList.toggle('has-unread', n > 0)
    }
    if (this.roomRow != null) {
      set(this.roomRow.unread, this.roomRow.button, this.unread.get('room') ?? 0)
      this.roomRow.button.setAttribute('aria-current', String(this.active === 'room'))
    }
    for (const [id, row] of this.rows) {
      const conv: ConvId = `dm:${id}`
      set(row.unread, row.button, this.unread.get(conv) ?? 0)
      row.button.setAttribute('aria-current', String(this.active === conv))
    }
    this.updateTitle()
  }

  private updateTitle (): void {
    let n = 0
    for (const v of this.unread.values()) n += v
    document.title = `${n > 0 ? `(${n}) ` : ''}${this.me.room} · libp2p-messenger chat`
  }

  private restoreActive (): ConvId {
    const saved = sessionStorage.getItem(`lp2pm-demo/active/${this.me.id}`)
    if (saved != null && saved.startsWith('dm:') && this.history.peers.has(saved.slice(3))) return saved as ConvId
    return 'room'
  }

  openConv (conv: ConvId, focus = true): void {
    this.active = conv
    sessionStorage.setItem(`lp2pm-demo/active/${this.me.id}`, conv)
    this.unread.delete(conv)
    this.renderPeers()
    this.renderConvHeader()
    this.renderMessages()
    const label = conv === 'room' ? `Message everyone in ${this.me.room}` : `Message ${this.nameOf(conv.slice(3))}`
    this.els.text.placeholder = label
    this.els.composerLabel.textContent = label
    if (focus) this.els.text.focus()
  }

  private renderConvHeader (): void {
    const conv = this.active
    if (conv === 'room') {
      const n = this.onlinePeers().length
      this.els.convTitle.textContent = `# ${this.me.room}`
      this.els.convSub.textContent = n === 0 ? 'Only you so far — invite someone with the link' : `Everyone in the room · ${n} other${n === 1 ? '' : 's'} online`
      this.els.convSub.dataset.conn = ''
    } else {
      const id = conv.slice(3)
      const conn = this.connectionOf(id, this.onlinePeers().includes(id))
      this.els.convTitle.textContent = this.nameOf(id)
      this.els.convSub.textContent = `Direct messages · ${conn.long}`
      this.els.convSub.dataset.conn = conn.kind
    }
  }

  private renderMessages (): void {
    const list = this.els.messages
    const messages = this.history.list(this.active)
    const items = messages.map(m => this.messageItem(m))
    list.replaceChildren(...items)
    if (items.length === 0) {
      list.append(h('li', { class: 'empty-conv', 'aria-hidden': 'true' }, this.active === 'room'
        ? 'No messages yet. Say hello — everyone in the room will see it.'
        : `No messages yet. Only ${this.nameOf(this.active.slice(3))} will see what you write here.`))
    }
    list.scrollTop = list.scrollHeight
  }

  private messageItem (m: StoredMessage): HTMLLIElement {
    const name = m.mine ? this.me.name : this.nameOf(m.author)
    const li = h('li', { class: `msg${m.mine ? ' mine' : ''}`, 'data-id': m.id, 'data-author': m.author },
      avatar(m.author, name),
      h('div', { class: 'bubble' },
        h('p', { class: 'meta' },
          h('span', { class: 'author', text: m.mine ? `${name} (you)` : name }),
          h('time', { datetime: new Date(m.ts).toISOString(), title: formatDateTime(m.ts), text: formatTime(m.ts) })),
        h('p', { class: 'text', text: m.text }),
        m.mine ? h('p', { class: 'status' }) : null))
    if (m.mine) this.fillStatus(li, m)
    return li
  }

  private fillStatus (li: HTMLElement, m: StoredMessage): void {
    const el = li.querySelector<HTMLElement>('.status')
    if (el == null) return
    const { state, text } = summarize(m)
    li.dataset.status = state
    el.textContent = text
    const details = Object.entries(m.recipients ?? {}).map(([peer, r]) => `${this.nameOf(peer)}: ${r.state}${r.reason != null ? ` (${r.reason})` : ''}`)
    el.title = details.join('\n')
  }

  private updateStatus (m: StoredMessage): void {
    const li = this.els.messages.querySelector<HTMLElement>(`li[data-id="${CSS.escape(m.id)}"]`)
    if (li != null) this.fillStatus(li, m)
  }

  /** Add one message to the open conversation, in (ts, id) order. */
  private insertMessage (m: StoredMessage, mine = false): void {
    const list = this.els.messages
    list.querySelector('.empty-conv')?.remove()
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80
    const li = this.messageItem(m)
    // find the first rendered message that sorts after this one
    let before: Element | null = null
    for (let el = list.lastElementChild; el != null; el = el.previousElementSibling) {
      const other = this.history.messages.get((el as HTMLElement).dataset.id ?? '')
      if (other == null) continue
      if (other.ts < m.ts || (other.ts === m.ts && other.id < m.id)) break
      before = el
    }
    list.insertBefore(li, before)
    if (mine || nearBottom) list.scrollTop = list.scrollHeight
  }

  private renderPending (): void {
    const n = this.messenger.pending()
    this.els.pending.textContent = `${n} pending`
    this.els.pending.dataset.count = String(n)
  }

  /** Once a second and on events: network state, badges, pending count. */
  private refresh (): void {
    const now = Date.now()
    for (const id of this.onlinePeers()) {
      const p = this.history.peers.get(id)
      if (p != null) p.lastSeen = now
    }
    this.renderPending()
    this.renderPeers()
    if (this.active !== 'room') this.renderConvHeader()

    const browser = navigator.onLine
    const net: Net = this.network.net(this.onlinePeers().length)
    if (net === this.net) return
    const previous = this.net
    this.net = net
    const labels: Record<Net, string> = { connecting: 'Connecting…', online: 'Online', 'relay-down': 'Relay unreachable', offline: 'Offline' }
    this.els.net.textContent = labels[net]
    this.els.net.dataset.state = net
    document.body.dataset.net = net
    const banner = this.els.banner
    clearTimeout(this.bannerTimer)
    if (net === 'offline' || net === 'relay-down') {
      banner.dataset.kind = net === 'offline' ? 'offline' : 'warning'
      banner.textContent = net === 'offline'
        ? (browser ? 'You are offline: the relay cannot be reached.' : 'You are offline: this device has no network.') + ' Messages you send are kept and go out when the connection returns.'
        : 'The relay cannot be reached. Direct WebRTC connections keep working; new peers can join once it is back.'
      banner.hidden = false
    } else if (net === 'online' && (previous === 'offline' || previous === 'relay-down')) {
      banner.dataset.kind = 'online'
      banner.textContent = 'Back online. Queued messages are going out.'
      banner.hidden = false
      this.bannerTimer = setTimeout(() => { banner.hidden = true }, 4_000)
    } else {
      banner.hidden = true
    }
  }

  async stop (): Promise<void> {
    clearInterval(this.tick)
    this.network.stop()
    this.history.save()
  }
}

function randomId (): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12))
  return [...bytes].map(b => b.toString(16).padStart(2, '0')).join('')
}
