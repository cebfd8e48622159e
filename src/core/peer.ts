/**
 * A per-peer handle: send to, receive from and watch one peer. Once the handle
 * is used to receive (`receive()` or iteration), that peer's messages on its
 * channel go to the handle instead of the channel-wide receive, until
 * `close()`. A handle used only to send or to watch takes nothing.
 */
import { TypedEventEmitter } from 'main-event'
import { Inbox } from './inbox.js'
import type { ConnectionKind } from './connections.js'
import type { PeerEvents } from './events.js'
import type { Received } from './inbox.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'

export interface Peer<T> extends AsyncIterable<Received<T>> {
  readonly id: PeerId
  /** Queue a message to this peer; see `Channel.send`. */
  send(message: T): number
  /** The next message from this peer (from now on, this peer's messages come here). */
  receive(options?: AbortOptions): Promise<Received<T>>
  /** True while the peer has a usable connection and speaks the protocol. */
  readonly connected: boolean
  /** How the peer is reached now: `'direct'`, `'relayed'`, or undefined when not connected. */
  readonly connection: ConnectionKind | undefined
  /** Messages queued to this peer and not yet sent (confirmed mode: not yet acknowledged). */
  readonly pending: number
  /** Resolves once this peer's queue is at most half full; see `Channel.waitForRoom`. */
  waitForRoom(options?: AbortOptions): Promise<void>
  /** Release the handle: this peer's messages go back to the channel-wide receive. */
  close(): void
  addEventListener: TypedEventEmitter<PeerEvents>['addEventListener']
  removeEventListener: TypedEventEmitter<PeerEvents>['removeEventListener']
}

/** What a handle needs from its channel. */
export interface PeerHandleHost<T> {
  send(peer: PeerId, message: T): number
  isMember(peer: PeerId): boolean
  connectionKind(peer: PeerId): ConnectionKind | undefined
  pending(peer: PeerId): number
  waitForRoom(peer: PeerId, options?: AbortOptions): Promise<void>
  capture(handle: PeerHandle<T>): void
  release(handle: PeerHandle<T>): void
}

export class PeerHandle<T> extends TypedEventEmitter<PeerEvents> implements Peer<T> {
  readonly id: PeerId
  readonly inbox = new Inbox<T>()
  /** True once the handle receives: the peer's messages come here. */
  receiving = false
  private readonly host: PeerHandleHost<T>

  constructor (id: PeerId, host: PeerHandleHost<T>) {
    super()
    this.id = id
    this.host = host
  }

  send (message: T): number {
    return this.host.send(this.id, message)
  }

  async receive (options?: AbortOptions): Promise<Received<T>> {
    this.capture()
    return this.inbox.receive(options)
  }

  [Symbol.asyncIterator] (): AsyncIterator<Received<T>> {
    this.capture()
    return this.inbox[Symbol.asyncIterator]()
  }

  private capture (): void {
    if (!this.receiving) {
      this.receiving = true
      this.host.capture(this)
    }
  }

  get connected (): boolean {
    return this.host.isMember(this.id)
  }

  get connection (): ConnectionKind | undefined {
    return this.host.connectionKind(this.id)
  }

  get pending (): number {
    return this.host.pending(this.id)
  }

  async waitForRoom (options?: AbortOptions): Promise<void> {
    await this.host.waitForRoom(this.id, options)
  }

  close (): void {
    this.host.release(this)
  }
}
