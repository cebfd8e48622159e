/**
 * Defaults, one named constant each. Every one can be changed through the
 * messenger's or a channel's init options.
 */

/**
 * Largest encoded message, in bytes, per message (as in go-libp2p-messenger).
 *
 * @default 1 MiB
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024

/**
 * Messages waiting to be written to one peer on one channel.
 *
 * @default 10_000
 */
export const DEFAULT_MAX_QUEUED_MESSAGES = 10_000

/**
 * Bytes waiting to be written to one peer on one channel.
 *
 * @default 16 MiB
 */
export const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024

/**
 * Bytes waiting to be written across all peers and channels of a messenger.
 *
 * @default 64 MiB
 */
export const DEFAULT_MAX_TOTAL_QUEUED_BYTES = 64 * 1024 * 1024

/**
 * Bytes handed to a stream in one `send()` call (many frames per call is where
 * the speed is; one large frame is never split by us).
 *
 * @default 256 KiB
 */
export const DEFAULT_MAX_BATCH_BYTES = 256 * 1024

/**
 * Size of the buffers small messages are encoded into, back to back, so a batch
 * is a view of one buffer rather than a copy.
 *
 * @default 16 KiB
 */
export const SLAB_SIZE = 16 * 1024

/**
 * An outbound stream with nothing to send for this long is closed gracefully
 * (and reopened lazily on the next send).
 *
 * @default 60 s
 */
export const DEFAULT_IDLE_TIMEOUT = 60_000

/**
 * First delay before retrying a failed dial or stream open; doubles on each
 * failure (with jitter) up to `DEFAULT_MAX_BACKOFF`.
 *
 * @default 250 ms
 */
export const DEFAULT_MIN_BACKOFF = 250

/**
 * Longest delay between retries.
 *
 * @default 15 s
 */
export const DEFAULT_MAX_BACKOFF = 15_000

/**
 * How long opening a stream (including a dial when no connection exists) may
 * take before it is abandoned and retried.
 *
 * @default 10 s
 */
export const DEFAULT_OPEN_TIMEOUT = 10_000

/**
 * How long a peer's queue lives while the peer is unreachable. When it runs
 * out the queued messages are dropped with reason `'expired'`
 * (`Infinity` keeps them).
 *
 * @default 10 min
 */
export const DEFAULT_QUEUE_TTL = 10 * 60_000

/**
 * Received messages buffered for the application per peer before that peer's
 * streams are paused (backpressure reaches the sender where the transport
 * supports it).
 *
 * @default 1_000
 */
export const DEFAULT_MAX_INBOUND_MESSAGES = 1_000

/**
 * How long a newer inbound stream from a peer waits for an older, silent one
 * from the same peer to finish before the older one is abandoned. Keeps order
 * across a stream handover without waiting forever on a dead stream.
 *
 * @default 5 s
 */
export const DEFAULT_HANDOVER_TIMEOUT = 5_000

/**
 * Inbound streams per protocol per connection (libp2p's registrar default is 32).
 *
 * @default 8
 */
export const DEFAULT_MAX_INBOUND_STREAMS = 8

/**
 * Confirmed mode: messages written but not yet acknowledged before writing pauses.
 *
 * @default 1_000
 */
export const DEFAULT_MAX_UNACKED = 1_000

/**
 * Confirmed mode: how long a receiver may hold back an acknowledgement to
 * coalesce it with later ones.
 *
 * @default 20 ms
 */
export const DEFAULT_ACK_DELAY = 20
