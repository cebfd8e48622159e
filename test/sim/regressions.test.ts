/**
 * The simulator's counter-examples for the defects of issue 10, kept as fixed
 * scenarios: each one failed (as written in its title) with its fix reverted,
 * and the random search need not find it again to keep it fixed.
 */
import { describe, it, beforeAll } from 'vitest'
import fc from 'fast-check'
import { runScenario, scenarios, Send, Advance, Pace, Reload, AddConnection, HalfOpen, ResetStream, CloseWriter, BlackHole, Partition } from './commands.js'
import { simIds } from './ids.js'
import type { SimConfig } from './world.js'
import type { PeerId } from '@libp2p/interface'

let ids: PeerId[]
beforeAll(async () => { ids = await simIds(4) })

const base: SimConfig = {
  seed: 1,
  peers: 2,
  delivery: 'default',
  outbox: false,
  kind: 'relayed',
  latency: 5,
  payload: 100,
  maxQueuedMessages: 10_000,
  queueTtl: Infinity,
  maxInboundMessages: 1_000,
  handoverTimeout: 5_000,
  idleTimeout: 60_000,
  requestMode: 'multiplexed'
}

async function run (config: Partial<SimConfig>, cmds: Array<Send | Advance | Pace | Reload | AddConnection | HalfOpen | ResetStream | CloseWriter | BlackHole | Partition>): Promise<void> {
  await runScenario({ ...base, ...config }, cmds, { ids: ids.slice(0, 3), attacker: ids[3], maxCommands: 30 })
}

describe('simulator counter-examples, kept', () => {
  it('defect 1: the receiver reads nothing, the sender\'s idle stream closes: the paused stream\'s 40 messages arrive (24 were lost)', async () => {
    await run({ payload: 1_000, maxInboundMessages: 4, idleTimeout: 300 }, [new Pace(1, -1), new Send(0, 1, 40), new Advance(2_000)])
  })

  it('defect 2: a black hole, a half-open connection, a partition: the handover lets exactly one stream in (a second one was read untracked, and a message was lost)', async () => {
    await run({ latency: 1, maxInboundMessages: 50 }, [new Send(1, 0, 52), new BlackHole(1, 0), new HalfOpen(0, 1), new Partition(1, 0)])
  })

  it('defect 3: 61 messages into a queue of 60: the drop event names no number send() handed out (it named the next one)', async () => {
    await run({ delivery: 'confirmed', kind: 'direct', latency: 1, payload: 8, maxQueuedMessages: 60, maxInboundMessages: 50, handoverTimeout: 1_000, idleTimeout: 2_000 }, [new Send(1, 0, 61)])
  })

  it('defect 4: a direct connection whose ICE connects only after 3 s is not written to before then (the lane stalled on it)', async () => {
    await run({ delivery: 'confirmed', outbox: true, latency: 24, maxQueuedMessages: 5, queueTtl: 30_000, maxInboundMessages: 50, idleTimeout: 300 }, [new Send(1, 0, 1), new AddConnection(0, 1, 'direct', 3_000)])
  })

  it('defect 5: 60 large messages and a reset: drain listeners stay few (7 were left on one stream)', async () => {
    await run({ payload: 20_000, idleTimeout: 2_000 }, [new Send(0, 1, 60), new ResetStream(1, 0, 'writer', 0)])
  })

  it('defect 6: a message sent just before a reload survives it, and its number is not handed out again', async () => {
    await run({ peers: 3, outbox: true, kind: 'direct', latency: 6, payload: 20_000, handoverTimeout: 200, idleTimeout: 2_000 }, [new Send(2, 0, 1), new Reload(2, false), new ResetStream(1, 0, 'writer', 0)])
  })

  it('defect 6, confirmed: sent, then the sender crashes; its restart reports the message unsaved and unconfirmed (it may have arrived)', async () => {
    await run({ delivery: 'confirmed', outbox: true, kind: 'direct', latency: 1, payload: 1_000, maxQueuedMessages: 60, queueTtl: 30_000, handoverTimeout: 200 }, [new Send(1, 0, 1), new Advance(3), new Reload(1, true), new Send(1, 0, 1)])
  })

  it('defect 7: both peers dial each other at once: each moves to the newer connection at once (one kept writing to the older)', async () => {
    await run({ kind: 'direct', latency: 36, payload: 1_000, maxQueuedMessages: 5, queueTtl: 3_000, maxInboundMessages: 50, idleTimeout: 2_000 }, [new Send(1, 0, 1), new Send(0, 1, 1)])
  })

  it('confirmed: a receiver that crashed and came back on a new direct connection gets the unacknowledged messages again (they waited forever)', async () => {
    await run({ delivery: 'confirmed', latency: 14, maxQueuedMessages: 60, queueTtl: 3_000, maxInboundMessages: 50, handoverTimeout: 1_000, idleTimeout: 2_000 }, [
      new Send(1, 0, 20), new Advance(54), new Reload(0, true), new AddConnection(1, 0, 'direct', 0), new CloseWriter(0, 1, 0)
    ])
  })

  it('confirmed: queued messages expire after a reconnect; those written before are reported unconfirmed (they had arrived)', async () => {
    await run({ seed: 1716048948, delivery: 'confirmed', kind: 'direct', latency: 35, payload: 1_000, maxQueuedMessages: 5, queueTtl: 3_000, maxInboundMessages: 4, idleTimeout: 300 }, [
      new Send(1, 0, 20), new Advance(173), new Partition(1, 0), new HalfOpen(1, 0)
    ])
  })

  it('confirmed: the sender restarts without its state while the receiver still holds its old messages: the new sequence space is never acknowledged with the old one\'s numbers', async () => {
    await run({ seed: 0, peers: 3, delivery: 'confirmed', kind: 'direct', latency: 17, payload: 8, maxInboundMessages: 50 }, [
      new Send(0, 1, 20), new Pace(1, -1), new Advance(82), new Reload(0, false), new Advance(355), new Send(0, 1, 20), new Pace(0, -1)
    ])
  })
})

describe('found by the simulator in CI, replayed by its seed', () => {
  // confirmed mode with an outbox: the sender crashes after writing, comes back partitioned and
  // crashes again; its third incarnation let the queued message expire and reported the drop as
  // plainly lost, though it had been delivered: the highest number ever written did not survive a
  // restart in which nothing was written (the ledger saved the new lane's 0). Fails at scenario 97
  // with the fix reverted.
  it('the highest number written survives any number of restarts (seed 1492918057)', async () => {
    const ids = await simIds(4)
    await fc.assert(fc.asyncProperty(scenarios(30), async ([config, cmds]) => {
      await runScenario(config, cmds, { ids: ids.slice(0, 3), attacker: ids[3], maxCommands: 30 })
    }), { numRuns: 100, seed: 1492918057, endOnFailure: true })
  }, 120_000)
})
