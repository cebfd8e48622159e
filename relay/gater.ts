/**
 * The relay's connection gater: per-address limits on inbound connections.
 *
 * libp2p has no per-address cap (`maxIncomingPendingConnections` is one count
 * for all hosts), and its per-address rate (`inboundConnectionThreshold`) can
 * only exempt addresses through its `allow` list, which also lifts
 * `maxConnections` and pruning for them. So the relay turns libp2p's rate off
 * and applies, per remote IP address:
 *
 * - a rate of new connections (`inboundConnectionThreshold` per second), and
 * - a cap on open ones (`maxConnectionsPerIp`), counting sockets still in
 *   their handshake, or a burst of parallel connections would all pass.
 *
 * Addresses in `allow` are exempt from both. `denyInboundConnection` runs after
 * the connection manager accepted the socket, before the handshake. Node's
 * default gater allows everything else, and so does this one.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { InvalidParametersError } from '@libp2p/interface'
import { getNetConfig, RateLimiter, RateLimitError } from '@libp2p/utils'
import type { ComponentLogger, ConnectionGater, Logger, MultiaddrConnection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ConnectionGaterInit {
  /** Networks (CIDR, or a single address) exempt from both limits. */
  allow: string[]
  /** Open connections from one address; 0 for no limit. */
  maxConnectionsPerIp: number
  /** New connections per second from one address. */
  inboundConnectionThreshold: number
}

export interface ConnectionGaterComponents {
  logger: ComponentLogger
}

/**
 * A connection gater with per-address limits.
 *
 * @throws InvalidParametersError when an `allow` entry is not an IP network
 */
export function createConnectionGater (components: ConnectionGaterComponents, init: ConnectionGaterInit): ConnectionGater {
  return new PerAddressGater(components, init)
}

class PerAddressGater implements ConnectionGater {
  private readonly log: Logger
  private readonly allow: BlockList
  private readonly maxConnectionsPerIp: number
  private readonly rate: RateLimiter
  /** inbound sockets admitted and not yet closed, by remote IP address */
  private readonly admitted = new Map<string, Set<MultiaddrConnection>>()

  constructor (components: ConnectionGaterComponents, init: ConnectionGaterInit) {
    this.log = components.logger.forComponent('libp2p-messenger:relay:gater')
    this.allow = toBlockList(init.allow)
    this.maxConnectionsPerIp = init.maxConnectionsPerIp
    this.rate = new RateLimiter({ points: init.inboundConnectionThreshold, duration: 1 })
  }

  async denyInboundConnection (maConn: MultiaddrConnection): Promise<boolean> {
    const ip = ipOf(maConn.remoteAddr, this.log)
    if (ip == null || this.isAllowed(ip)) {
      return false
    }

    try {
      this.rate.consume(ip, 1)
    } catch (err) {
      if (err instanceof RateLimitError) {
        this.log('denied inbound connection from %s: too many new connections per second', ip)
      } else {
        this.log.error('denied inbound connection from %s: rate limiter failed - %e', ip, err)
      }
      return true
    }

    if (this.maxConnectionsPerIp <= 0) {
      return false
    }

    let sockets = this.admitted.get(ip)
    if (sockets == null) {
      sockets = new Set()
      this.admitted.set(ip, sockets)
    }
    for (const socket of sockets) {
      if (socket.timeline.close != null) {
        sockets.delete(socket)
      }
    }
    if (sockets.size >= this.maxConnectionsPerIp) {
      this.log('denied inbound connection from %s: %d connections open from there', ip, sockets.size)
      return true
    }

    const set = sockets
    set.add(maConn)
    maConn.addEventListener('close', () => {
      set.delete(maConn)
      if (set.size === 0 && this.admitted.get(ip) === set) {
        this.admitted.delete(ip)
      }
    }, { once: true })
    this.log.trace('admitted inbound connection from %s (%d open from there)', ip, set.size)
    return false
  }

  private isAllowed (ip: string): boolean {
    return this.allow.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4')
  }
}

/** The IP address of `ma`, or undefined when it has none (the gater then lets it through). */
function ipOf (ma: Multiaddr, log: Logger): string | undefined {
  try {
    const config = getNetConfig(ma)
    return config.type === 'ip4' || config.type === 'ip6' ? config.host : undefined
  } catch (err) {
    log.trace('no IP address in %a, not limited - %e', ma, err)
    return undefined
  }
}

function parseCidr (cidr: string): { ip: string, prefix: number, type: 'ipv4' | 'ipv6' } {
  const [ip, bits] = cidr.split('/')
  const type = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined
  if (type == null) {
    throw new InvalidParametersError(`not an IP network: ${cidr}`)
  }
  const max = type === 'ipv4' ? 32 : 128
  const prefix = bits == null ? max : Number(bits)
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new InvalidParametersError(`bad prefix length in ${cidr}`)
  }
  return { ip, prefix, type }
}

function toBlockList (cidrs: string[]): BlockList {
  const list = new BlockList()
  for (const cidr of cidrs) {
    const { ip, prefix, type } = parseCidr(cidr)
    list.addSubnet(ip, prefix, type)
  }
  return list
}
