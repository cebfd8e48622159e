/**
 * The network lab: real Linux network namespaces, built and torn down by the
 * tests (root only). Nothing outside these namespaces is touched: every
 * address, route, iptables rule and qdisc lives inside a namespace whose name
 * starts with `lp2pm-`, so deleting the namespaces removes all of it.
 *
 *   lp2pm-pub  "the internet": bridge br0, 203.0.113.1/24
 *              (relay ws :9299, page server :5299, coturn STUN/TURN :3478)
 *      │ br0 ── 203.0.113.11 ─ lp2pm-ra (NAT router A) ─ 10.1.0.1 ── 10.1.0.2 lp2pm-ha (home A: a browser)
 *      │ br0 ── 203.0.113.12 ─ lp2pm-rb (NAT router B) ─ 10.2.0.1 ── 10.2.0.2 lp2pm-hb (home B: a browser)
 *
 * Routers masquerade the home network behind their one public address:
 * - `eim`: plain MASQUERADE. Linux keeps the source port when it can, so a
 *   mapping is the same for every destination (endpoint-independent mapping;
 *   filtering is endpoint-dependent through conntrack, like most home routers):
 *   STUN's server-reflexive candidate is what the other peer can punch to.
 * - `symmetric`: MASQUERADE --random-fully: every new destination gets a new
 *   random port (endpoint-dependent mapping): the reflexive candidate is
 *   useless to the other peer; only TURN (or the relay's circuit) works.
 * Loss: `-m statistic --mode random --probability p -j DROP` in the router's
 * FORWARD chain, both directions. Rate: `tc tbf` on the home's uplink (the
 * home interface's egress). Outage: a DROP-everything rule at the top of the
 * router's FORWARD chain (an ISP outage: the browser sees no link change).
 * The kernel has no netem here: no added delay.
 */
import { execFileSync, spawnSync } from 'node:child_process'

export const PREFIX = 'lp2pm-'
export const PUBLIC_IP = '203.0.113.1'
export const PUBLIC_NET = '203.0.113.0/24'

export type HomeName = 'a' | 'b'
export type NatKind = 'eim' | 'symmetric'

export interface HomeSpec {
  name: HomeName
  router: string
  home: string
  wanIp: string
  lanNet: string
  routerLanIp: string
  hostIp: string
}

export const NS_PUBLIC = `${PREFIX}pub`

export const HOMES: Record<HomeName, HomeSpec> = {
  a: { name: 'a', router: `${PREFIX}ra`, home: `${PREFIX}ha`, wanIp: '203.0.113.11', lanNet: '10.1.0.0/24', routerLanIp: '10.1.0.1', hostIp: '10.1.0.2' },
  b: { name: 'b', router: `${PREFIX}rb`, home: `${PREFIX}hb`, wanIp: '203.0.113.12', lanNet: '10.2.0.0/24', routerLanIp: '10.2.0.1', hostIp: '10.2.0.2' }
}

export interface HomeConfig {
  /** @default 'eim' */
  nat?: NatKind
  /** drop probability per packet, each direction, on the home's link (0 … 1) @default 0 */
  loss?: number
  /** tbf rate of the home's uplink, e.g. '1mbit' @default unlimited */
  uplink?: string
}

/** Run a command; throws with its stderr. */
export function run (cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 })
  } catch (err: any) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${String(err.stderr ?? err.message).trim()}`)
  }
}

/** Run a command inside a namespace. */
export function nsRun (ns: string, cmd: string, args: string[]): string {
  return run('ip', ['netns', 'exec', ns, cmd, ...args])
}

function ipIn (ns: string, ...args: string[]): void {
  run('ip', ['-n', ns, ...args])
}

/** Our namespaces that exist now (also those a crashed earlier run left). */
export function ourNamespaces (): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
  return out.split('\n').map(l => l.split(' ')[0]).filter(n => n.startsWith(PREFIX))
}

/** Process ids running inside a namespace. */
export function namespacePids (ns: string): number[] {
  const out = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? ''
  return out.split('\n').map(Number).filter(n => Number.isInteger(n) && n > 0)
}

/**
 * Remove every `lp2pm-` namespace: first SIGKILL the processes inside them
 * (our relay, coturn, page server and browsers, left by an interrupted run),
 * by their ids, then delete the namespaces (which removes their veths,
 * addresses, routes, iptables rules and qdiscs). Synchronous, so it can run
 * from an exit handler.
 */
export function removeAll (): string[] {
  const removed: string[] = []
  const names = ourNamespaces()
  for (const ns of names) {
    for (const pid of namespacePids(ns)) {
      if (pid === process.pid) continue
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
  }
  for (const ns of names) {
    // a namespace whose processes are still exiting can be deleted by name all the same
    for (let i = 0; i < 20; i++) {
      const r = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' })
      if (r.status === 0) break
      spawnSync('sleep', ['0.1'])
    }
    removed.push(ns)
  }
  return removed
}

/** Build the topology (removing any leftovers first). Idempotent per run. */
export function build (): void {
  removeAll()
  const all = [NS_PUBLIC, ...Object.values(HOMES).flatMap(h => [h.router, h.home])]
  for (const ns of all) {
    run('ip', ['netns', 'add', ns])
    ipIn(ns, 'link', 'set', 'lo', 'up')
  }
  // the public side: a bridge that the routers' WAN links plug into
  ipIn(NS_PUBLIC, 'link', 'add', 'br0', 'type', 'bridge')
  ipIn(NS_PUBLIC, 'addr', 'add', `${PUBLIC_IP}/24`, 'dev', 'br0')
  ipIn(NS_PUBLIC, 'link', 'set', 'br0', 'up')
  for (const h of Object.values(HOMES)) {
    // WAN: pub/<port> <-> router/wan
    const port = `to-${h.name}`
    run('ip', ['link', 'add', port, 'netns', NS_PUBLIC, 'type', 'veth', 'peer', 'name', 'wan', 'netns', h.router])
    ipIn(NS_PUBLIC, 'link', 'set', port, 'master', 'br0')
    ipIn(NS_PUBLIC, 'link', 'set', port, 'up')
    ipIn(h.router, 'addr', 'add', `${h.wanIp}/24`, 'dev', 'wan')
    ipIn(h.router, 'link', 'set', 'wan', 'up')
    // LAN: router/lan <-> home/eth0
    run('ip', ['link', 'add', 'lan', 'netns', h.router, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.home])
    ipIn(h.router, 'addr', 'add', `${h.routerLanIp}/24`, 'dev', 'lan')
    ipIn(h.router, 'link', 'set', 'lan', 'up')
    ipIn(h.home, 'addr', 'add', `${h.hostIp}/24`, 'dev', 'eth0')
    ipIn(h.home, 'link', 'set', 'eth0', 'up')
    ipIn(h.home, 'route', 'add', 'default', 'via', h.routerLanIp)
    nsRun(h.router, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'])
    configure(h.name, {})
  }
}

/**
 * Set a home's NAT kind, loss and uplink rate (replacing what was set).
 * Only the router's own chains and the home's own qdisc are changed.
 */
export function configure (home: HomeName, cfg: HomeConfig): void {
  const h = HOMES[home]
  // a case that took the link down and failed is undone here too
  homeLink(home, true)
  nsRun(h.router, 'iptables', ['-t', 'nat', '-F', 'POSTROUTING'])
  nsRun(h.router, 'iptables', ['-F', 'FORWARD'])
  nsRun(h.router, 'iptables', ['-F', 'INPUT'])
  // Unsolicited packets to the router's WAN address are dropped, as home routers do.
  // It also makes the EIM router keep its mappings: a peer's hole-punching packet that
  // arrives before our own outbound one would otherwise leave a conntrack entry for
  // that port pair, and the outbound packet would then be mapped to a new random port
  // (a packet dropped before conntrack confirms it leaves no entry).
  nsRun(h.router, 'iptables', ['-A', 'INPUT', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP'])
  const masq = ['-t', 'nat', '-A', 'POSTROUTING', '-s', h.lanNet, '-o', 'wan', '-j', 'MASQUERADE']
  if (cfg.nat === 'symmetric') masq.push('--random-fully')
  nsRun(h.router, 'iptables', masq)
  if (cfg.loss != null && cfg.loss > 0) {
    nsRun(h.router, 'iptables', ['-A', 'FORWARD', '-m', 'statistic', '--mode', 'random', '--probability', String(cfg.loss), '-j', 'DROP'])
  }
  spawnSync('ip', ['netns', 'exec', h.home, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root'])
  if (cfg.uplink != null) {
    // burst 32 kbit (4 KiB: about three full packets), 400 ms of queue
    nsRun(h.home, 'tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', cfg.uplink, 'burst', '32kbit', 'latency', '400ms'])
  }
}

/** Cut a home off (everything through its router dropped), or restore it. */
export function outage (home: HomeName, down: boolean): void {
  const h = HOMES[home]
  if (down) nsRun(h.router, 'iptables', ['-I', 'FORWARD', '1', '-j', 'DROP'])
  else spawnSync('ip', ['netns', 'exec', h.router, 'iptables', '-D', 'FORWARD', '-j', 'DROP'])
}

/**
 * Take a home's own link down (as when Wi-Fi drops: the browser sees its
 * interface go away), or bring it back with its default route.
 */
export function homeLink (home: HomeName, up: boolean): void {
  const h = HOMES[home]
  ipIn(h.home, 'link', 'set', 'eth0', up ? 'up' : 'down')
  if (up) spawnSync('ip', ['-n', h.home, 'route', 'replace', 'default', 'via', h.routerLanIp])
}

/** Packet counters of a home router's FORWARD rules (how much the loss rules dropped). */
export function dropCounters (home: HomeName): Array<{ packets: number, rule: string }> {
  const out = nsRun(HOMES[home].router, 'iptables', ['-L', 'FORWARD', '-v', '-n', '-x'])
  return out.split('\n').slice(2).filter(l => l.trim() !== '').map(l => {
    const f = l.trim().split(/\s+/)
    return { packets: Number(f[0]), rule: f.slice(2).join(' ') }
  })
}

/** The kernel features the lab needs, checked up front with a clear message. */
export function preflight (): string | undefined {
  if (process.getuid?.() !== 0) return 'the network lab needs root (network namespaces, iptables)'
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['iptables', 'iptables'], ['tc', 'iproute2'], ['turnserver', 'coturn']]) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) return `${cmd} not found: apt-get install -y ${pkg}`
  }
  return undefined
}
