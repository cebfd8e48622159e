/**
 * Real libp2p nodes for the Node tests: TCP, noise, yamux, identify.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { afterEach } from 'vitest'
import type { Libp2p } from '@libp2p/interface'

export type TestNode = Libp2p

export async function createNode (): Promise<TestNode> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionManager: { maxConnections: 100 }
  })
}

export async function createNodes (n: number): Promise<TestNode[]> {
  return Promise.all(Array.from({ length: n }, async () => createNode()))
}

/** Tell `a` where `b` is (without connecting). */
export async function introduce (a: TestNode, b: TestNode): Promise<void> {
  await a.peerStore.merge(b.peerId, { multiaddrs: b.getMultiaddrs() })
}

export async function connect (a: TestNode, b: TestNode): Promise<void> {
  await a.dial(b.getMultiaddrs())
}

/** Poll until `check` is true, or fail after `ms`. */
export async function until (check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) {
      throw new Error(`Timed out waiting for ${what}`)
    }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

export async function stopAll (nodes: TestNode[]): Promise<void> {
  await Promise.all(nodes.map(async n => n.stop()))
}

/** Nodes and messengers a test started, stopped after each test. */
export interface Live {
  nodes: TestNode[]
  messengers: Array<{ stop(): Promise<void> }>
}

/** Register an afterEach that stops whatever the test put in the returned object. */
export function stopAfterEach (): Live {
  const live: Live = { nodes: [], messengers: [] }
  afterEach(async () => {
    const { nodes, messengers } = live
    live.nodes = []
    live.messengers = []
    await Promise.all(messengers.map(async m => m.stop()))
    await stopAll(nodes)
  })
  return live
}
