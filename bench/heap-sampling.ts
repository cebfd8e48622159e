/**
 * Bytes allocated by a synchronous piece of code: V8's sampling heap profiler
 * (JS heap objects) plus the growth of ArrayBuffer backing stores. More exact
 * than heapUsed deltas, which move in allocation-buffer steps.
 */
import { Session } from 'node:inspector/promises'

export async function allocatedBytes (fn: () => void): Promise<{ heap: number, arrayBuffers: number }> {
  const session = new Session()
  session.connect()
  await session.post('HeapProfiler.enable')
  await session.post('HeapProfiler.startSampling', { samplingInterval: 32 })
  const before = process.memoryUsage().arrayBuffers
  fn()
  const arrayBuffers = process.memoryUsage().arrayBuffers - before
  const { profile } = await session.post('HeapProfiler.stopSampling')
  session.disconnect()
  let heap = 0
  const walk = (node: { selfSize: number, children: any[] }): void => {
    heap += node.selfSize
    for (const child of node.children) walk(child)
  }
  walk(profile.head)
  return { heap, arrayBuffers }
}
