/**
 * Waiting for room in a stream's write buffer, correctly.
 */
import { StreamResetError } from '../errors.js'
import type { Stream } from '@libp2p/interface'

/**
 * Wait until `stream` has room: not asking for a drain, and at most `limit`
 * bytes in its own write buffer.
 *
 * Not `stream.onDrain()`: in @libp2p/utils 7.4.1 it keeps returning the first,
 * already resolved promise after the first drain, so it never waits again, and
 * yamux emits 'drain' on any window update, however small. Trusting either lets
 * the stream's write buffer grow without bound.
 */
export async function writable (stream: Stream, limit: number, signal?: AbortSignal): Promise<void> {
  // one drain is enough while the buffer is small; past `limit`, wait for it to shrink
  let drained = false
  while ((stream.writableNeedsDrain && !drained) || stream.writeBufferLength > limit) {
    drained = true
    signal?.throwIfAborted()
    await once(stream, signal)
    if (stream.status !== 'open') {
      throw new StreamResetError('Stream closed while waiting to write')
    }
  }
}

/**
 * The next 'drain' or 'idle' of `stream`; rejects on 'close' or abort. Every
 * listener it adds is removed when it settles (p-event 7 leaves its abort
 * listener on the signal, which here is the messenger's, alive for its whole life).
 */
async function once (stream: Stream, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      stream.removeEventListener('drain', ok)
      stream.removeEventListener('idle', ok)
      stream.removeEventListener('close', closed)
      signal?.removeEventListener('abort', aborted)
    }
    const ok = (): void => { cleanup(); resolve() }
    const closed = (evt: Event): void => { cleanup(); reject((evt as Event & { error?: Error }).error ?? new StreamResetError('Stream closed while waiting to write')) }
    const aborted = (): void => { cleanup(); reject(signal?.reason) }
    stream.addEventListener('drain', ok)
    stream.addEventListener('idle', ok)
    stream.addEventListener('close', closed)
    signal?.addEventListener('abort', aborted)
  })
}
