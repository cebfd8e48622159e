/**
 * The outbox on its invariant, against fake lanes (no network): what is
 * stored is what is still in each lane's queue; a failed write changes
 * nothing; a restart restores exactly that, never hands a number out twice,
 * and reports exactly what a crash lost.
 */
import { describe, it, expect } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { openOutbox } from '../../src/index.js'
import { memoryOutboxStore } from '../../src/outbox/index.js'
import { laneStoreOf } from '../../src/core/store.js'
import type { OutboxLaneView, LaneStore } from '../../src/core/store.js'
import type { OutboxBatch, OutboxStore } from '../../src/outbox/index.js'

const PEER = peerIdFromString('12D3KooWA3t6oF9vpGq9dc1GFDHx1mHe1J2bWeqBh1FGxuFDnJ8E')
const PROTOCOL = '/t/1.0.0'

/** A lane as the outbox sees it: a queue of (seq, payload), consecutive but for skipped numbers. */
class FakeLane implements OutboxLaneView {
  readonly peer = PEER
  readonly epoch: Uint8Array
  items: Array<{ seq: number, payload: Uint8Array }> = []
  nextSeq: number
  unwritten = 0
  highestWritten = 0
  connection?: unknown
  readonly queue: OutboxLaneView['queue']

  constructor (nextSeq = 1, epoch = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])) {
    this.nextSeq = nextSeq
    this.epoch = epoch
    const items = (): FakeLane['items'] => this.items
    this.queue = {
      get length (): number { return items().length },
      seqAt: (i: number): number => this.items[i].seq
    }
  }

  payloadAt (i: number): Uint8Array { return this.items[i].payload }

  send (store: LaneStore, n = 1): number[] {
    const seqs: number[] = []
    for (let i = 0; i < n; i++) {
      const seq = this.nextSeq++
      this.items.push({ seq, payload: new Uint8Array([seq & 0xff, seq >> 8]) })
      seqs.push(seq)
    }
    store.changed(this, PROTOCOL)
    return seqs
  }

  /** The first `n` leave the queue (sent in default mode, acknowledged in confirmed mode). */
  release (store: LaneStore, n: number): void {
    this.items.splice(0, n)
    store.changed(this, PROTOCOL)
  }
}

const storedSeqs = (store: ReturnType<typeof memoryOutboxStore>): number[] => [...store.records.values()].map(r => r.seq).sort((a, b) => a - b)

/** A store whose writes fail while `failing` is set. */
function flaky (inner: OutboxStore): OutboxStore & { failing: boolean, writes: OutboxBatch[] } {
  const store = {
    failing: false,
    writes: [] as OutboxBatch[],
    ledger: inner.ledger,
    load: async () => inner.load(),
    write: async (batch: OutboxBatch) => {
      if (store.failing) throw new Error('disk full')
      store.writes.push(batch)
      await inner.write(batch)
    },
    close: () => inner.close()
  }
  return store
}

describe('outbox: what is stored is what is in the queue', () => {
  it('stores what is queued, deletes what left, and never stores what left before the write', async () => {
    const store = memoryOutboxStore()
    const outbox = await openOutbox(store, { writeDelay: 5 })
    const hooks = laneStoreOf(outbox)
    const l = new FakeLane()
    l.send(hooks, 5)
    await outbox.flush()
    expect(storedSeqs(store)).toEqual([1, 2, 3, 4, 5])
    l.release(hooks, 2)
    l.send(hooks, 3)
    l.release(hooks, 4) // 3, 4, 5, 6 left; 7, 8 stay
    await outbox.flush()
    expect(storedSeqs(store)).toEqual([7, 8])
    expect(store.lanes.get(`${PROTOCOL}\n${PEER.toString()}`)?.nextSeq).toBe(9)
    await outbox.close()
  })

  it('a failed write changes nothing, is reported, and the retry writes the queue as it is then', async () => {
    const store = flaky(memoryOutboxStore())
    const outbox = await openOutbox(store, { writeDelay: 1, minRetry: 5, maxRetry: 10 })
    const errors: Error[] = []
    outbox.addEventListener('error', (e) => errors.push(e.detail))
    const hooks = laneStoreOf(outbox)
    const l = new FakeLane()
    l.send(hooks, 3)
    await outbox.flush()
    store.failing = true
    l.release(hooks, 1)
    l.send(hooks, 2)
    await new Promise(resolve => setTimeout(resolve, 30))
    expect(errors[0].name).toBe('StorageError')
    const inner = await store.load()
    expect(inner.records.map(r => r.seq)).toEqual([1, 2, 3]) // untouched
    store.failing = false
    await outbox.flush()
    expect((await store.load()).records.map(r => r.seq)).toEqual([2, 3, 4, 5])
    await outbox.close()
  })
})

describe('outbox: restarts', () => {
  it('restores the queue with its numbers; new numbers continue after the last one handed out', async () => {
    const store = memoryOutboxStore()
    const first = await openOutbox(store)
    const l = new FakeLane()
    l.send(laneStoreOf(first), 4)
    await first.flush()
    l.release(laneStoreOf(first), 1)
    // the page goes away before that release is stored: the ledger knows it anyway
    await new Promise(resolve => setTimeout(resolve, 0))
    const second = await openOutbox(store)
    const restored = laneStoreOf(second).restore(PROTOCOL, PEER)
    expect(restored?.records.map(r => r.seq)).toEqual([2, 3, 4]) // 1 was sent: never sent again
    expect(restored?.nextSeq).toBe(5)
    expect(restored?.lost).toEqual([])
    expect(restored?.epoch).toEqual(l.epoch)
    await second.close()
  })

  it('a crash in the write window: the lost numbers are reported exactly, and not reused', async () => {
    const store = memoryOutboxStore()
    const first = await openOutbox(store, { writeDelay: 10_000 })
    const l = new FakeLane()
    l.send(laneStoreOf(first), 3) // never written to storage: only the ledger saw them
    await new Promise(resolve => setTimeout(resolve, 0))
    const second = await openOutbox(store) // the first one just vanished (no close, no pagehide)
    const restored = laneStoreOf(second).restore(PROTOCOL, PEER)
    expect(restored?.records).toEqual([])
    expect(restored?.lost).toEqual([[1, 3, false]])
    expect(restored?.nextSeq).toBe(4)
    await second.close()
  })

  it('confirmed mode: lost numbers that had been written to a stream are reported unconfirmed', async () => {
    const store = memoryOutboxStore()
    const first = await openOutbox(store, { writeDelay: 10_000 })
    const hooks = laneStoreOf(first)
    const l = new FakeLane()
    l.send(hooks, 4)
    l.highestWritten = 2
    hooks.written(l)
    await new Promise(resolve => setTimeout(resolve, 0))
    const restored = laneStoreOf(await openOutbox(store)).restore(PROTOCOL, PEER)
    expect(restored?.lost).toEqual([[1, 2, true], [3, 4, false]])
  })

  it('at pagehide the messages storage does not have yet are spilled to the ledger and restored', async () => {
    const store = memoryOutboxStore()
    const first = await openOutbox(store, { writeDelay: 10_000 })
    const l = new FakeLane()
    l.send(laneStoreOf(first), 3)
    ;(first as any).spill() // what the pagehide handler does
    const restored = laneStoreOf(await openOutbox(store)).restore(PROTOCOL, PEER)
    expect(restored?.records.map(r => [r.seq, ...r.payload])).toEqual([[1, 1, 0], [2, 2, 0], [3, 3, 0]])
    expect(restored?.lost).toEqual([])
  })

  it('the spill is bounded: what does not fit is reported unsaved after the restart', async () => {
    const store = memoryOutboxStore()
    const first = await openOutbox(store, { writeDelay: 10_000, maxSpillBytes: 4 })
    const l = new FakeLane()
    l.send(laneStoreOf(first), 5) // 2 bytes each: two fit
    ;(first as any).spill()
    const restored = laneStoreOf(await openOutbox(store)).restore(PROTOCOL, PEER)
    expect(restored?.records.map(r => r.seq)).toEqual([1, 2])
    expect(restored?.lost).toEqual([[3, 5, false]])
  })

  it('lost numbers are reported once: a second restart does not report them again', async () => {
    const store = memoryOutboxStore()
    const first = await openOutbox(store, { writeDelay: 10_000 })
    new FakeLane().send(laneStoreOf(first), 2)
    await new Promise(resolve => setTimeout(resolve, 0))
    const second = await openOutbox(store, { writeDelay: 1 })
    const hooks = laneStoreOf(second)
    const restored = hooks.restore(PROTOCOL, PEER)
    expect(restored?.lost).toEqual([[1, 2, false]])
    const l = new FakeLane(restored?.nextSeq)
    l.send(hooks, 1) // 3
    await second.flush()
    await new Promise(resolve => setTimeout(resolve, 0))
    const third = laneStoreOf(await openOutbox(store)).restore(PROTOCOL, PEER)
    expect(third?.records.map(r => r.seq)).toEqual([3])
    expect(third?.lost).toEqual([])
    expect(third?.nextSeq).toBe(4)
  })

  it('storage without its ledger entry (cleared): numbers jump far ahead rather than be reused', async () => {
    const store = memoryOutboxStore()
    const first = await openOutbox(store)
    new FakeLane().send(laneStoreOf(first), 2)
    await first.flush()
    store.ledger.entries.clear()
    const restored = laneStoreOf(await openOutbox(store)).restore(PROTOCOL, PEER)
    expect(restored?.records.map(r => r.seq)).toEqual([1, 2])
    expect(restored?.nextSeq).toBeGreaterThan(2 ** 24)
    expect(restored?.lost).toEqual([])
  })
})
