/**
 * Why a direct connection did or did not happen: every RTCPeerConnection a
 * page makes, with the candidate types it gathered and was given, the ICE
 * and connection states it went through. Installed with an init script
 * (`traceRTC(context)`) because @libp2p/webrtc takes
 * `globalThis.RTCPeerConnection` when its module loads; read with
 * `readTrace(page)`.
 */
import type { BrowserContext, Page } from '@playwright/test'

export interface PcTrace {
  /** ms since the page's time origin */
  createdAt: number
  iceServers: string[]
  /** candidate types this side gathered (host, srflx, relay), with counts */
  gathered: Record<string, number>
  /** candidate types the other side sent us */
  given: Record<string, number>
  /** ICE connection states in order */
  ice: string[]
  /** connection states in order */
  states: string[]
  /** ms from creation to 'connected', if reached */
  connectedMs?: number
}

export interface RtcTrace {
  created: number
  list: PcTrace[]
}

export async function traceRTC (context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const Native = globalThis.RTCPeerConnection
    if (Native == null || (globalThis as any).__lp2pmRtc != null) return
    const trace: { created: number, list: any[] } = { created: 0, list: [] }
    const typeOf = (c: string | undefined): string => / typ (\w+)/.exec(c ?? '')?.[1] ?? 'unknown'
    class TracedPeerConnection extends Native {
      constructor (config?: RTCConfiguration) {
        super(config)
        trace.created++
        const rec = {
          createdAt: Math.round(performance.now()),
          iceServers: (config?.iceServers ?? []).flatMap(s => Array.isArray(s.urls) ? s.urls : [s.urls]),
          gathered: {} as Record<string, number>,
          given: {} as Record<string, number>,
          ice: [] as string[],
          states: [] as string[],
          connectedMs: undefined as number | undefined
        }
        // keep the last 50 only: a long run must not grow the page
        trace.list.push(rec)
        if (trace.list.length > 50) trace.list.shift()
        this.addEventListener('icecandidate', (e) => {
          if (e.candidate == null || e.candidate.candidate === '') return
          const t = e.candidate.type ?? typeOf(e.candidate.candidate)
          rec.gathered[t] = (rec.gathered[t] ?? 0) + 1
        })
        this.addEventListener('iceconnectionstatechange', () => { rec.ice.push(this.iceConnectionState) })
        this.addEventListener('connectionstatechange', () => {
          rec.states.push(this.connectionState)
          if (this.connectionState === 'connected' && rec.connectedMs == null) rec.connectedMs = Math.round(performance.now()) - rec.createdAt
        })
        ;(this as any).__lp2pmRec = rec
      }

      override async addIceCandidate (candidate?: RTCIceCandidateInit | RTCIceCandidate | null, ...rest: any[]): Promise<void> {
        const rec = (this as any).__lp2pmRec
        const c = candidate?.candidate
        if (rec != null && c != null && c !== '') {
          const t = typeOf(c)
          rec.given[t] = (rec.given[t] ?? 0) + 1
        }
        return await (super.addIceCandidate as any)(candidate, ...rest)
      }
    }
    globalThis.RTCPeerConnection = TracedPeerConnection as typeof RTCPeerConnection
    ;(globalThis as any).__lp2pmRtc = trace
  })
}

export async function readTrace (page: Page): Promise<RtcTrace | undefined> {
  return await page.evaluate(() => (globalThis as any).__lp2pmRtc as RtcTrace | undefined).catch(() => undefined)
}

/**
 * Why a peer connection did not connect, from its trace: `no-candidates`
 * (this side gathered none: no usable interface, or ICE servers unreachable
 * with a relay-only policy), `no-remote-candidates` (signalling delivered
 * none), `ice-failed` (ICE tried every pair and gave up), `timeout` (given up
 * by the dialer while ICE was still checking: with srflx candidates on both
 * sides, the NATs' mappings are endpoint-dependent), or undefined if it
 * connected.
 */
export function failureReason (p: PcTrace): 'no-candidates' | 'no-remote-candidates' | 'ice-failed' | 'timeout' | undefined {
  if (p.connectedMs != null) return undefined
  if (Object.keys(p.gathered).length === 0) return 'no-candidates'
  if (Object.keys(p.given).length === 0) return 'no-remote-candidates'
  if (p.ice.includes('failed') || p.states.includes('failed')) return 'ice-failed'
  return 'timeout'
}

/** One line per peer connection: `ice new>checking>failed gathered host:1,srflx:1 given host:1`. */
export function summarizeTrace (trace: RtcTrace | undefined): string[] {
  if (trace == null) return []
  const kv = (o: Record<string, number>): string => Object.entries(o).map(([k, v]) => `${k}:${v}`).join(',') || 'none'
  return trace.list.map(p => `ice ${p.ice.join('>') || '-'}; gathered ${kv(p.gathered)}; given ${kv(p.given)}${p.connectedMs != null ? `; connected in ${p.connectedMs} ms` : `; not connected: ${failureReason(p) as string}`}`)
}
