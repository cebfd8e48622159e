/**
 * What the messenger reports. Sends never return promises or throw for
 * network trouble: everything that happens after `send()` returns arrives as
 * one of these events (typed `CustomEvent`s on a `main-event`
 * `TypedEventEmitter`).
 */
import type { DropReason } from './outbound-lane.js'
import type { ConnectionKind } from './connections.js'
import type { PeerId } from '@libp2p/interface'

export type { DropReason }

/** Messages that will not be sent (or, in confirmed mode, not retried). */
export interface DropDetail {
  peer: PeerId
  channel: string
  /** How many messages. */
  count: number
  /**
   * Sequence numbers of the first and last dropped message: exactly the
   * `count` messages `first`…`last`. Absent for messages refused by a full
   * queue: they never got a number (their `send()` returned -1).
   */
  first?: number
  last?: number
  /**
   * - `queue-full`: the peer's or the messenger's queue cap was reached.
   * - `expired`: the peer stayed unreachable for `queueTtl`.
   * - `stopped`: the messenger stopped with messages still queued (and no durable outbox held them).
   * - `unsaved`: reported after a restart: these were handed to `send()` in
   *   the moments before the page crashed (or its unload-time save ran out of
   *   room), before the outbox had stored them. In confirmed mode those that
   *   had already been written to a stream come as `unconfirmed`.
   */
  reason: DropReason
  /**
   * Confirmed mode: these messages had been sent and were awaiting their
   * acknowledgement, so the peer may have them (each at most once). Without
   * this flag, a dropped message never reached the peer's application.
   */
  unconfirmed?: boolean
  error?: Error
}

/** A range of messages to one peer, by sequence number (inclusive). */
export interface RangeDetail {
  peer: PeerId
  channel: string
  first: number
  last: number
}

/** Something went wrong that the messenger handled (retrying, resetting one stream). */
export interface ErrorDetail {
  peer?: PeerId
  channel: string
  error: Error
}

/** How a peer is reached changed. */
export interface ConnectionDetail {
  peer: PeerId
  /** `'direct'` (e.g. WebRTC), `'relayed'`, or undefined: not connected any more. */
  connection: ConnectionKind | undefined
}

export interface ChannelEvents {
  /** A peer now has a usable connection and speaks this channel's protocol. */
  'peer:join': CustomEvent<PeerId>
  /** A peer lost its last connection (or stopped speaking the protocol). */
  'peer:leave': CustomEvent<PeerId>
  /**
   * How a member is reached changed: it joined, its connection became direct,
   * fell back to relayed, or it left (`connection: undefined`).
   */
  connection: CustomEvent<ConnectionDetail>
  /** Messages were handed to the transport (not proof of delivery). */
  sent: CustomEvent<RangeDetail>
  /** Confirmed mode: the receiver's application has these messages. */
  delivered: CustomEvent<RangeDetail>
  /** Messages were dropped, and why. */
  drop: CustomEvent<DropDetail>
  /** A stream was reset for bad input, a dial failed, storage failed, … */
  error: CustomEvent<ErrorDetail>
}

/** Events of a per-peer handle: the same, filtered to that peer. */
export interface PeerEvents {
  join: CustomEvent<PeerId>
  leave: CustomEvent<PeerId>
  connection: CustomEvent<ConnectionDetail>
  sent: CustomEvent<RangeDetail>
  delivered: CustomEvent<RangeDetail>
  drop: CustomEvent<DropDetail>
  error: CustomEvent<ErrorDetail>
}
