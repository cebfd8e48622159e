/**
 * Room names and the pubsub topics they map to.
 *
 * Shared by the relay and the SDK, so it must stay free of dependencies (no
 * imports at all): browsers bundle it, the relay runs it under Node.
 *
 * A room is any non-empty string up to {@link MAX_ROOM_NAME_LENGTH} UTF-16
 * code units. Its topic is `libp2p-messenger/room/<room>`; peers run
 * `@libp2p/pubsub-peer-discovery` with `topics: [roomTopic(room)]` and the
 * relay forwards those messages between the peers of one room.
 *
 * @example
 *
 * ```ts
 * roomTopic('lobby')                          // 'libp2p-messenger/room/lobby'
 * roomFromTopic('libp2p-messenger/room/lobby') // 'lobby'
 * roomFromTopic('something/else')              // undefined
 * ```
 */

/**
 * Every room topic starts with this. The relay only follows topics with this
 * prefix (and at most {@link MAX_ROOM_TOPIC_LENGTH} long).
 */
export const ROOM_TOPIC_PREFIX = 'libp2p-messenger/room/'

/**
 * The longest room name accepted, in UTF-16 code units. Each topic a peer
 * subscribes to costs the relay (and every client) bookkeeping per peer, so
 * topics are kept short.
 */
export const MAX_ROOM_NAME_LENGTH = 200

/**
 * The longest room topic: the prefix plus the longest room name.
 */
export const MAX_ROOM_TOPIC_LENGTH = ROOM_TOPIC_PREFIX.length + MAX_ROOM_NAME_LENGTH

/**
 * The pubsub topic of a room.
 *
 * @throws TypeError when `room` is not a string, is empty or is longer than
 * {@link MAX_ROOM_NAME_LENGTH}
 */
export function roomTopic (room: string): string {
  if (typeof room !== 'string' || room.length === 0) {
    throw new TypeError('room must be a non-empty string')
  }
  if (room.length > MAX_ROOM_NAME_LENGTH) {
    throw new TypeError(`room name is longer than ${MAX_ROOM_NAME_LENGTH} characters`)
  }
  return ROOM_TOPIC_PREFIX + room
}

/**
 * Whether `topic` is a room topic, i.e. one that {@link roomTopic} can return.
 */
export function isRoomTopic (topic: string): boolean {
  return typeof topic === 'string' &&
    topic.length > ROOM_TOPIC_PREFIX.length &&
    topic.length <= MAX_ROOM_TOPIC_LENGTH &&
    topic.startsWith(ROOM_TOPIC_PREFIX)
}

/**
 * The room of a room topic, or `undefined` when `topic` is not one.
 */
export function roomFromTopic (topic: string): string | undefined {
  return isRoomTopic(topic) ? topic.slice(ROOM_TOPIC_PREFIX.length) : undefined
}
