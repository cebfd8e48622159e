/**
 * Files in the demo: attach (or drop) a file into the current conversation;
 * it goes to each of its peers as a resumable transfer
 * (`libp2p-messenger/transfer`) on its own low-priority channel, so chat keeps
 * flowing. Both sides show a progress bar; the receiver gets a download link
 * (images inline). Offers up to MAX_FILE are accepted, larger ones refused.
 */
import { h } from './dom.js'
import type { IncomingTransfer, OutgoingTransfer, Transfer, Transfers } from '../src/transfer/index.js'

/** The largest file this demo accepts. */
const MAX_FILE = 500 * 1024 * 1024

export interface FilesInit {
  transfers: Transfers
  list: HTMLUListElement
  input: HTMLInputElement
  attach: HTMLButtonElement
  dropZone: HTMLElement
  /** Peers of the conversation shown now. */
  recipients(): string[]
  nameOf(peer: string): string
}

function size (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

export class Files {
  private readonly init: FilesInit
  private readonly urls: string[] = []

  constructor (init: FilesInit) {
    this.init = init
    init.attach.addEventListener('click', () => { init.input.click() })
    init.input.addEventListener('change', () => {
      for (const file of init.input.files ?? []) this.send(file)
      init.input.value = ''
    })
    init.dropZone.addEventListener('dragover', (e) => {
      if (e.dataTransfer?.types.includes('Files') === true) {
        e.preventDefault()
        init.dropZone.dataset.drop = 'true'
      }
    })
    init.dropZone.addEventListener('dragleave', () => { delete init.dropZone.dataset.drop })
    init.dropZone.addEventListener('drop', (e) => {
      e.preventDefault()
      delete init.dropZone.dataset.drop
      for (const file of e.dataTransfer?.files ?? []) this.send(file)
    })
    init.transfers.addEventListener('offer', (e) => {
      const offer = e.detail
      if ((offer.size ?? 0) > MAX_FILE) {
        offer.reject(`larger than ${size(MAX_FILE)}`)
        return
      }
      this.show(offer.accept(), `${init.nameOf(offer.peer.toString())} → you`)
    })
  }

  /** Send `file` to every peer of the conversation shown now. */
  send (file: File): void {
    for (const peer of this.init.recipients()) {
      let t: OutgoingTransfer
      try {
        t = this.init.transfers.send(peer, file, { name: file.name, type: file.type })
      } catch (err: any) {
        this.row(`You → ${this.init.nameOf(peer)}`, file.name, file.size).status.textContent = err.message
        continue
      }
      this.show(t, `You → ${this.init.nameOf(peer)}`)
    }
  }

  stop (): void {
    for (const url of this.urls) URL.revokeObjectURL(url)
  }

  private row (who: string, name: string, total?: number): { li: HTMLLIElement, bar: HTMLProgressElement, status: HTMLSpanElement } {
    const bar = h('progress', { max: String(total ?? 1), value: '0' }) as HTMLProgressElement
    const status = h('span', { class: 'file-status' }, total != null ? size(total) : '')
    const li = h('li', { class: 'file' }, h('span', { class: 'file-who' }, who), h('span', { class: 'file-name' }, name), bar, status) as HTMLLIElement
    this.init.list.append(li)
    this.init.list.hidden = false
    return { li, bar, status }
  }

  private show (t: Transfer<unknown>, who: string): void {
    const { li, bar, status } = this.row(who, t.name, t.size)
    li.dataset.direction = t.direction
    t.addEventListener('progress', (e) => {
      bar.value = e.detail.bytes
      if (e.detail.total != null) bar.max = e.detail.total
      status.textContent = `${size(e.detail.bytes)}${e.detail.total != null ? ` of ${size(e.detail.total)}` : ''} · ${size(Math.round(e.detail.rate))}/s`
    })
    t.done.then((blob) => {
      li.dataset.state = 'done'
      bar.value = bar.max
      if (t.direction === 'send') {
        status.textContent = `sent, ${size(t.size ?? 0)}`
        return
      }
      const file = blob as Blob
      const url = URL.createObjectURL(file)
      this.urls.push(url)
      status.replaceChildren(h('a', { href: url, download: t.name, class: 'file-link' }, `Download (${size(file.size)})`))
      if (t.type.startsWith('image/')) li.append(h('img', { src: url, alt: t.name, class: 'file-image' }))
    }, (err: Error) => {
      li.dataset.state = 'failed'
      status.textContent = `failed: ${err.message}`
    })
  }
}

export type { IncomingTransfer }
