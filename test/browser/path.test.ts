/**
 * How a selected ICE candidate pair is named (the browser reading of it is
 * proven in e2e/newcomer.spec.ts and the network lab).
 */
import { describe, it, expect } from 'vitest'
import { pathKind } from '../../src/browser/path.js'

const c = (type: string, address?: string): { type: string, address?: string } => ({ type, address })

describe('pathKind', () => {
  it('names host, NAT and TURN paths', () => {
    expect(pathKind(c('host', '192.168.1.2'), c('host', '192.168.1.3'))).toBe('host')
    expect(pathKind(c('host', '10.0.0.2'), c('srflx', '203.0.113.9'))).toBe('srflx')
    expect(pathKind(c('srflx', '203.0.113.8'), c('host', '10.0.0.3'))).toBe('srflx')
    expect(pathKind(c('host', '10.0.0.2'), c('prflx', '198.51.100.7'))).toBe('srflx')
    expect(pathKind(c('relay', '203.0.113.1'), c('host', '10.0.0.3'))).toBe('turn')
    expect(pathKind(c('host', '10.0.0.2'), c('relay', '203.0.113.1'))).toBe('turn')
  })

  it('a peer-reflexive remote on loopback is a host path (its host candidate was an mDNS name)', () => {
    expect(pathKind(c('host', '127.0.0.1'), c('prflx', '127.0.0.1'))).toBe('host')
    expect(pathKind(c('host', '::1'), c('prflx', '::1'))).toBe('host')
    // two tabs of one machine on its LAN address
    expect(pathKind(c('host', '10.1.2.3'), c('prflx', '10.1.2.3'))).toBe('host')
  })
})
