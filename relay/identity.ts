/**
 * The relay's persistent identity: an Ed25519 private key kept in a file, so
 * the PeerId (and with a fixed port, the whole multiaddr) stays the same across
 * restarts.
 *
 * The file holds the key in the libp2p protobuf encoding (the same bytes
 * `privateKeyToProtobuf` returns), is created with mode 0600 in a directory
 * created with mode 0700, and is never overwritten.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export interface LoadedKey {
  privateKey: PrivateKey
  /** true when the file did not exist and a new key was written to it */
  created: boolean
  /** set when the file is readable by group or others */
  warning?: string
}

/**
 * Read the private key in `file`, or create a new Ed25519 key there when the
 * file does not exist yet.
 *
 * @throws when the file exists but does not hold a libp2p private key
 */
export async function loadOrCreateKey (file: string): Promise<LoadedKey> {
  try {
    return await readKey(file)
  } catch (err: any) {
    if (err?.code !== 'ENOENT') {
      throw err
    }
  }

  const privateKey = await generateKeyPair('Ed25519')
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  try {
    // 'wx': never clobber a key another process wrote in the meantime
    await writeFile(file, privateKeyToProtobuf(privateKey), { mode: 0o600, flag: 'wx' })
  } catch (err: any) {
    if (err?.code === 'EEXIST') {
      return readKey(file)
    }
    throw err
  }
  return { privateKey, created: true }
}

async function readKey (file: string): Promise<LoadedKey> {
  const bytes = await readFile(file)
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch (err: any) {
    throw new Error(`${file} does not hold a libp2p private key (${err?.message ?? err}); move it away to create a new identity`)
  }
  const loaded: LoadedKey = { privateKey, created: false }
  if (process.platform !== 'win32') {
    const { mode } = await stat(file)
    if ((mode & 0o077) !== 0) {
      loaded.warning = `key file ${file} is readable by other users (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it`
    }
  }
  return loaded
}
