import { describe, it, expect, afterEach } from 'vitest'
import { createMessenger, string } from '../src/index.js'
import { createNodes, introduce, stopAll, type TestNode } from './helpers/nodes.js'

describe('smoke', () => {
  let nodes: TestNode[] = []
  afterEach(async () => { await stopAll(nodes) })

  it('sends one message', async () => {
    nodes = await createNodes(2)
    const [a, b] = nodes
    const ma = createMessenger(a, { protocol: '/t/1', codec: string() })
    const mb = createMessenger(b, { protocol: '/t/1', codec: string() })
    await Promise.all([ma.ready, mb.ready])
    await introduce(a, b)
    ma.addEventListener('error', (e) => { console.log('err', e.detail.error) })
    for (let i = 0; i < 5; i++) ma.send(b.peerId, 'hello ' + i)
    const got = []
    for (let i = 0; i < 5; i++) got.push((await mb.receive()).data)
    expect(got).toEqual([0,1,2,3,4].map(i => 'hello ' + i))
    await ma.stop(); await mb.stop()
  })
})
