/**
 * Received messages waiting for the application: a FIFO that is also an async
 * iterable, with one-shot `receive()` and per-source accounting so that one
 * flooding peer is paused without stalling the others.
 */
import { MessengerStoppedError } from '../errors.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'

/** A received message. */
export interface Received<T> {
  /** The authenticated peer the message came from. */
  from: PeerId
  /** The decoded message. */
  data: T
  /** The channel's name (`'default'` for the messenger's own). */
  channel: string
  /** The protocol id it arrived on. */
  protocol: string
}

/** Where a buffered message came from: told when the application takes it. */
export interface InboxSource {
  taken(seq: number, bytes: number): void
}

interface Waiter<T> {
  resolve(item: Received<T>): void
  reject(err: Error): void
}

export class Inbox<T> implements AsyncIterable<Received<T>> {
  private items: Array<Received<T> | undefined> = []
  private sources: Array<InboxSource | undefined> = []
  private seqs: number[] = []
  private sizes: number[] = []
  private head = 0
  private waiters: Array<Waiter<T>> = []
  private closedWith?: Error

  /** Messages buffered. */
  get length (): number {
    return this.items.length - this.head
  }

  /** Hand a message to a waiting reader, or buffer it. */
  push (item: Received<T>, source: InboxSource, seq: number, bytes: number): void {
    if (this.closedWith != null) {
      return
    }
    const waiter = this.waiters.shift()
    if (waiter != null) {
      source.taken(seq, bytes)
      waiter.resolve(item)
      return
    }
    this.items.push(item)
    this.sources.push(source)
    this.seqs.push(seq)
    this.sizes.push(bytes)
  }

  /** The next message; waits for one. Rejects when `signal` aborts or the inbox closes. */
  async receive (options: AbortOptions = {}): Promise<Received<T>> {
    const item = this.take()
    if (item != null) {
      return item
    }
    if (this.closedWith != null) {
      throw this.closedWith
    }
    options.signal?.throwIfAborted()
    return new Promise<Received<T>>((resolve, reject) => {
      const signal = options.signal
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter)
        if (i >= 0) {
          this.waiters.splice(i, 1)
        }
        reject(signal?.reason)
      }
      const waiter: Waiter<T> = {
        resolve: (value) => { signal?.removeEventListener('abort', onAbort); resolve(value) },
        reject: (err) => { signal?.removeEventListener('abort', onAbort); reject(err) }
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(waiter)
    })
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Received<T>, void, undefined> {
    while (true) {
      let item = this.take()
      if (item == null) {
        if (this.closedWith != null) {
          return
        }
        try {
          item = await this.receive()
        } catch (err) {
          if (this.closedWith != null) {
            return
          }
          throw err
        }
      }
      yield item
    }
  }

  /** End iteration; pending and later `receive()` calls reject with `err`. Buffered messages are discarded. */
  close (err: Error = new MessengerStoppedError()): void {
    if (this.closedWith != null) {
      return
    }
    this.closedWith = err
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(err)
    }
    this.items = []
    this.sources = []
    this.seqs = []
    this.sizes = []
    this.head = 0
  }

  /** Move the buffered messages that match into `target` (a new per-peer handle takes them over). */
  moveTo (target: Inbox<T>, matches: (item: Received<T>) => boolean): void {
    const keep: Array<[Received<T>, InboxSource, number, number]> = []
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as Received<T>
      const entry: [Received<T>, InboxSource, number, number] = [item, this.sources[i] as InboxSource, this.seqs[i], this.sizes[i]]
      if (matches(item)) {
        target.push(...entry)
      } else {
        keep.push(entry)
      }
    }
    this.items = keep.map(e => e[0])
    this.sources = keep.map(e => e[1])
    this.seqs = keep.map(e => e[2])
    this.sizes = keep.map(e => e[3])
    this.head = 0
  }

  private take (): Received<T> | undefined {
    if (this.head >= this.items.length) {
      return undefined
    }
    const i = this.head
    const item = this.items[i] as Received<T>
    const source = this.sources[i] as InboxSource
    const seq = this.seqs[i]
    const bytes = this.sizes[i]
    this.items[i] = undefined
    this.sources[i] = undefined
    this.head++
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.sources = this.sources.slice(this.head)
      this.seqs = this.seqs.slice(this.head)
      this.sizes = this.sizes.slice(this.head)
      this.head = 0
    } else if (this.head === this.items.length) {
      this.items.length = 0
      this.sources.length = 0
      this.seqs.length = 0
      this.sizes.length = 0
      this.head = 0
    }
    source.taken(seq, bytes)
    return item
  }
}
