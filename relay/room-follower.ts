/**
 * Makes the relay subscribe to the room topics its peers subscribe to, and
 * unsubscribe when none of them is left.
 *
 * Why: a gossipsub node forwards a message only to peers in its *mesh* for
 * the message's topic (plus "direct" and floodsub peers), and it only has a
 * mesh for topics it is subscribed to itself (`join()` is called from
 * `subscribe()`; see `selectPeersToForward` and `handleReceivedMessage` in
 * node_modules/@libp2p/gossipsub/src/gossipsub.ts). The `canRelayMessage`
 * option is declared but never read. So a relay that is not subscribed to a
 * room's topic drops that room's messages, and browsers' pubsub-peer-discovery
 * even skips publishing while nobody is subscribed (`getSubscribers(topic)` is
 * empty). Following rooms on demand lets rooms work without the relay knowing
 * their names in advance.
 *
 * Other relays (peers that speak the circuit relay hop protocol, or that were
 * linked with `--peer`) do not count as room members: otherwise two linked
 * relays would keep each other subscribed forever after the last browser left.
 * A room therefore spans relays that are linked directly; a relay with no
 * member of a room does not pass that room's messages on to a third relay.
 */
import { isRoomTopic } from '../src/browser/rooms.js'
import type { GossipSub, SubscriptionChangeData } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

export interface RoomFollowerInit {
  /** Follow at most this many rooms at once; further rooms are refused (and retried on the next sweep). */
  maxRooms: number
  /** True for peers that are relays themselves. */
  isRelay(peer: PeerId): boolean
  /** How often to re-check every followed and waiting room, in ms. */
  sweepInterval: number
  log(line: string): void
}

export class RoomFollower {
  private readonly pubsub: GossipSub
  private readonly init: RoomFollowerInit
  /** rooms we subscribed to */
  private readonly followed = new Set<string>()
  /** rooms with members that we could not follow because of `maxRooms` */
  private readonly waiting = new Set<string>()
  private sweepTimer?: ReturnType<typeof setInterval>
  private sweepSoon?: ReturnType<typeof setTimeout>
  private lastRefusalLog = 0
  private running = false

  constructor (pubsub: GossipSub, init: RoomFollowerInit) {
    this.pubsub = pubsub
    this.init = init
    this.onSubscriptionChange = this.onSubscriptionChange.bind(this)
  }

  start (): void {
    this.running = true
    this.pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    this.sweepTimer = setInterval(() => { this.sweep() }, this.init.sweepInterval)
    this.sweepTimer.unref?.()
  }

  stop (): void {
    this.running = false
    this.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    clearInterval(this.sweepTimer)
    clearTimeout(this.sweepSoon)
    this.followed.clear()
    this.waiting.clear()
  }

  /** The room topics followed right now. */
  get topics (): string[] {
    return [...this.followed]
  }

  /**
   * Gossipsub forgets a disconnected peer's subscriptions without emitting
   * 'subscription-change', so the relay calls this on `peer:disconnect`. The
   * sweep runs on a timer so that gossipsub's own disconnect handling (a
   * listener of the same event) has run first, and many disconnects at once
   * cost one sweep.
   */
  peerLeft (): void {
    this.scheduleSweep()
  }

  private scheduleSweep (): void {
    if (this.sweepSoon != null || !this.running) {
      return
    }
    this.sweepSoon = setTimeout(() => {
      this.sweepSoon = undefined
      this.sweep()
    }, 50)
    this.sweepSoon.unref?.()
  }

  /** Re-check every followed and waiting room. */
  sweep (): void {
    for (const topic of [...this.followed, ...this.waiting]) {
      this.reconcile(topic)
    }
  }

  private onSubscriptionChange (evt: CustomEvent<SubscriptionChangeData>): void {
    for (const { topic } of evt.detail.subscriptions) {
      if (isRoomTopic(topic)) {
        this.reconcile(topic)
      }
    }
  }

  private members (topic: string): number {
    let count = 0
    for (const peer of this.pubsub.getSubscribers(topic)) {
      if (!this.init.isRelay(peer)) {
        count++
      }
    }
    return count
  }

  private reconcile (topic: string): void {
    if (!this.running) {
      return
    }
    const members = this.members(topic)

    if (members > 0 && !this.followed.has(topic)) {
      if (this.followed.size >= this.init.maxRooms) {
        // bounded like `followed`: forget the oldest waiting room
        if (!this.waiting.has(topic) && this.waiting.size >= this.init.maxRooms) {
          const oldest = this.waiting.values().next().value
          if (oldest != null) {
            this.waiting.delete(oldest)
          }
        }
        this.waiting.add(topic)
        const now = Date.now()
        if (now - this.lastRefusalLog > 10_000) {
          this.lastRefusalLog = now
          this.init.log(`relay room limit reached (${this.init.maxRooms} rooms): not following ${topic} for now`)
        }
        return
      }
      this.waiting.delete(topic)
      this.followed.add(topic)
      this.pubsub.subscribe(topic)
    } else if (members === 0) {
      this.waiting.delete(topic)
      if (this.followed.delete(topic)) {
        this.pubsub.unsubscribe(topic)
        if (this.waiting.size > 0) {
          // a slot is free: give it to a waiting room now rather than on the next sweep
          this.scheduleSweep()
        }
      }
    }
  }
}
