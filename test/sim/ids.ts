/** Fixed peer ids for the simulator (derived from fixed seeds), so a scenario replays the same in any process. */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'

export async function simIds (n: number): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: n }, async (_, i) => peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(i + 1)))))
}
