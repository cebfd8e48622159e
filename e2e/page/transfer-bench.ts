/**
 * The transfer benchmark page: exposes `window.tbench`, which
 * bench/transfer.ts drives. The same bytes between two tabs, side by side in
 * one run:
 *
 * - a file transfer (`libp2p-messenger/transfer` on the messenger, over the
 *   direct WebRTC connection), from a Blob and from a Uint8Array in memory,
 *   timed from `send()` until the sender's `done` (the receiver has verified
 *   the digest and assembled the Blob);
 * - a raw RTCDataChannel between the same two tabs sending the same bytes from
 *   memory in 64 KiB and 16 KiB messages, stopping above 1 MiB
 *   `bufferedAmount` and resuming at `bufferedamountlow` (256 KiB), timed
 *   until the receiver has counted every byte.
 *
 * The receiving tab reports a finished raw round over a BroadcastChannel
 * (both tabs share one browser context). Test-only setup lives here.
 */
import { createBrowserNode, type BrowserNode } from '../../src/browser/index.js'
import { createMessenger, string, type Messenger } from '../../src/index.js'
import { createTransfers, memoryTransferStore, indexedDBTransferStore, type Transfers } from '../../src/transfer/index.js'

const RAW_HIGH_WATER = 1024 * 1024
const RAW_LOW_WATER = 256 * 1024

const media = navigator.mediaDevices?.getUserMedia({ audio: true }).then((s) => { for (const t of s.getTracks()) t.stop() }).catch(() => {})

const state: {
  node?: BrowserNode
  messenger?: Messenger<string>
  transfers?: Transfers
  pc?: RTCPeerConnection
  channel?: RTCDataChannel
  armed?: { round: string, bytes: number, got: number }
  files: Map<number, { blob: Blob, bytes: Uint8Array }>
  errors: string[]
  received: number
} = { files: new Map(), errors: [], received: 0 }

const done = new BroadcastChannel('lp2pm-transfer-bench')

function roundDone (round: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (evt: MessageEvent): void => {
      if (evt.data?.round === round) {
        done.removeEventListener('message', on)
        resolve()
      }
    }
    done.addEventListener('message', on)
  })
}

function fileOf (mb: number): { blob: Blob, bytes: Uint8Array } {
  let f = state.files.get(mb)
  if (f == null) {
    const bytes = new Uint8Array(mb << 20)
    for (let off = 0; off < bytes.byteLength; off += 65536) crypto.getRandomValues(bytes.subarray(off, off + 65536))
    f = { blob: new Blob([bytes]), bytes }
    state.files.set(mb, f)
  }
  return f
}

async function gathered (pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return
  await new Promise<void>((resolve) => {
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve() })
  })
}

function rawReceiver (channel: RTCDataChannel): void {
  channel.binaryType = 'arraybuffer'
  channel.onmessage = (evt) => {
    const a = state.armed
    if (a == null) return
    a.got += (evt.data as ArrayBuffer).byteLength
    if (a.got >= a.bytes) {
      done.postMessage({ round: a.round })
      state.armed = undefined
    }
  }
}

const tbench = {
  async start (opts: { relays: string[], room: string, store?: 'memory' | 'idb', window?: number, chunkSize?: number }): Promise<string> {
    await media
    const node = await createBrowserNode({ relays: opts.relays, room: opts.room, allowInsecureRelays: true })
    state.node = node
    const messenger = state.messenger = createMessenger<string>(node, { protocol: '/tbench/1.0.0', codec: string() })
    messenger.addEventListener('error', (e) => { state.errors.push(`${e.detail.error.name}: ${e.detail.error.message}`) })
    const transfers = state.transfers = createTransfers(messenger, {
      window: opts.window,
      chunkSize: opts.chunkSize,
      store: opts.store === 'idb' ? indexedDBTransferStore({ name: `tbench/${node.peerId.toString()}` }) : memoryTransferStore()
    })
    transfers.addEventListener('offer', (e) => {
      e.detail.accept().done.then((blob) => { state.received += blob.size }, (err: Error) => { state.errors.push(`${err.name}: ${err.message}`) })
    })
    await messenger.ready
    document.getElementById('status')!.textContent = 'started'
    return node.peerId.toString()
  },
  direct: (peer: string): boolean => state.messenger?.connection(peer) === 'direct',
  errors: (): string[] => state.errors,
  prepare (mb: number): void { fileOf(mb) },

  /** One transfer of `mb` MiB; ms until the receiver verified it. */
  async runTransfer (peer: string, mb: number, from: 'blob' | 'bytes'): Promise<{ ms: number, repeated: number }> {
    const f = fileOf(mb)
    const t0 = performance.now()
    const out = (state.transfers as Transfers).send(peer, from === 'blob' ? f.blob : f.bytes, { name: 'bench.bin' })
    await out.done
    return { ms: performance.now() - t0, repeated: out.stats.repeated }
  },

  arm (round: string, bytes: number): void {
    state.armed = { round, bytes, got: 0 }
  },

  /** The same bytes over the raw channel in `chunk`-byte messages with bufferedAmount backpressure. */
  async runRaw (mb: number, chunk: number, round: string): Promise<number> {
    const ch = state.channel as RTCDataChannel
    const { bytes } = fileOf(mb)
    const finished = roundDone(round)
    const t0 = performance.now()
    for (let off = 0; off < bytes.byteLength; off += chunk) {
      if (ch.bufferedAmount > RAW_HIGH_WATER) {
        await new Promise<void>((resolve) => { ch.addEventListener('bufferedamountlow', () => { resolve() }, { once: true }) })
      }
      ch.send(bytes.subarray(off, Math.min(bytes.byteLength, off + chunk)) as Uint8Array<ArrayBuffer>)
    }
    await finished
    return performance.now() - t0
  },

  async rawOffer (): Promise<string> {
    await media
    const pc = state.pc = new RTCPeerConnection({ iceServers: [] })
    const ch = state.channel = pc.createDataChannel('tbench-raw', { ordered: true })
    ch.binaryType = 'arraybuffer'
    ch.bufferedAmountLowThreshold = RAW_LOW_WATER
    await pc.setLocalDescription(await pc.createOffer())
    await gathered(pc)
    return pc.localDescription?.sdp ?? ''
  },
  async rawAnswer (offer: string): Promise<string> {
    await media
    const pc = state.pc = new RTCPeerConnection({ iceServers: [] })
    pc.addEventListener('datachannel', (evt) => { state.channel = evt.channel; rawReceiver(evt.channel) })
    await pc.setRemoteDescription({ type: 'offer', sdp: offer })
    await pc.setLocalDescription(await pc.createAnswer())
    await gathered(pc)
    return pc.localDescription?.sdp ?? ''
  },
  async rawAccept (answer: string): Promise<void> {
    const pc = state.pc as RTCPeerConnection
    const ch = state.channel as RTCDataChannel
    await pc.setRemoteDescription({ type: 'answer', sdp: answer })
    if (ch.readyState !== 'open') await new Promise((resolve) => { ch.addEventListener('open', resolve, { once: true }) })
  }
}

declare global { interface Window { tbench: typeof tbench } }
window.tbench = tbench
