// The `networking` plugin: Dobby's nat / open / none network modes over the plugin hooks.
//
// postConstruction checks the data (so bad data fails before the container exists) and, for nat and
// none, gives the container a network namespace of its own unless its config lists one (and, for
// nat, the host's /etc/resolv.conf, or with `dnsmasq` one naming the bridge: dns-forwarding.ts), as
// Dobby does, and for nat starts on the address, the bridge and the container's rules while the
// runtime creates it; preStart (the container created, its namespace there, not started yet)
// finishes that and wires the network, and a container that would still share the host's network
// fails its start whether the plugin is required or not; postStop undoes it, and preDestruction again for a start that failed
// before postStop could run. Undoing is idempotent, and awaited to its end (past the hook time limit;
// every ip/iptables command has its own): a set-up the time limit gave up on is waited for and undone
// before the container is reported gone.
//
// For the port manager: `addressOf(id)` gives a running container's addresses and namespace path,
// and `events$` tells when a container's network comes and goes.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Subject, type Observable } from 'rxjs';
import { AddressAllocator, bridgeIpv4, checkIpv6Prefix, ipv4ToString, parseIpv4Range } from '../../drivers/network/address-allocator.ts';
import { Ebtables, type LinkFilter } from '../../drivers/network/ebtables.ts';
import { Iptables, type Firewall } from '../../drivers/network/firewall.ts';
import { IpCommands, assertLinkName, type IpDriver } from '../../drivers/network/ip.ts';
import { HOST, SpawnNetExec, netnsPath, pidTarget, type NetExec } from '../../drivers/network/net-exec.ts';
import { Smcroute, type MulticastRouter, type SmcrouteOptions } from '../../drivers/network/smcroute.ts';
import { FakeMulticastRouter } from '../../drivers/network/smcroute-fake.ts';
import { SysctlCommand, type Sysctl } from '../../drivers/network/sysctl.ts';
import { DobbyError } from '../../errors.ts';
import { silentLogger, type Logger } from '../../log.ts';
import { HookHint, type DobbyPlugin, type HookContext } from '../types.ts';
import { parseNetworkingData, type NetworkingData } from './data.ts';
import { missingResolver, ResolvFiles } from './dns-forwarding.ts';
import { ResolverWarnings } from './resolver-warnings.ts';
import { insideDrivers, type InsideDrivers } from './localhost-masquerade.ts';
import { NatNetwork, type ContainerNetwork } from './nat-network.ts';

export type { ContainerNetwork } from './nat-network.ts';

export const NETWORKING_PLUGIN = 'networking';

export interface NetworkingPluginOptions {
  /** Where the address leases live (a directory of the daemon's state dir). */
  readonly stateDir: string;
  /** Default `dobby0`. */
  readonly bridgeName?: string;
  /** The containers' IPv4 range, default `100.64.11.0/24` (bridge .1, containers .2-.252). */
  readonly addressRange?: string;
  /** The first 96 bits of the IPv6 addresses, default Dobby's `2080:d0bb:1e::`. */
  readonly ipv6Prefix?: string;
  /** Interfaces nat traffic may leave through (masqueraded), as Dobby's settings `network.externalInterfaces`. */
  readonly externalInterfaces?: readonly string[];
  /** false: IPv4 only, whatever the host has (settings `network.ipv6`); default: IPv6 too where the host has it. */
  readonly ipv6?: boolean;
  /** Prefix of our iptables chains, default `DOBBY-NET`. */
  readonly chainPrefix?: string;
  /** A named namespace standing in for the host (tests). */
  readonly hostNetns?: string | null;
  /** The iptables binary: `iptables` (the host's alternative), `iptables-nft` or `iptables-legacy`. */
  readonly iptables?: string;
  /**
   * The ebtables binary for the link-layer checks (forged MACs, ARP), default `ebtables`; null on a
   * host without ebtables (then only the IP-level source checks hold).
   */
  readonly ebtables?: string | null;
  /**
   * multicastForwarding's smcroute: its config file (default Dobby's /opt/smcroute.conf, which
   * smcrouted must be started with), smcroutectl (default /usr/sbin/smcroutectl) and the daemon's
   * identity (`-I NAME`; default none).
   */
  readonly smcroute?: Pick<SmcrouteOptions, 'configFile' | 'smcroutectl' | 'identity'>;
  /** How long (ms) a dnsmasq resolver check's answer stands for the starts after it; default 2000. */
  readonly resolverAnswerMs?: number;
  readonly logger?: Logger;
  /** Drivers to use instead of the real ones (fakes, fault injection). */
  readonly drivers?: {
    readonly ip?: IpDriver; readonly firewall?: Firewall; readonly linkFilter?: LinkFilter | null; readonly sysctl?: Sysctl; readonly exec?: NetExec;
    readonly multicastRouter?: MulticastRouter;
    readonly netnsIdentity?: (path: string) => Promise<string>;
    /** The firewall and sysctls inside a container (interContainer localhostMasquerade); null: none. */
    readonly inside?: ((pid: number) => InsideDrivers) | null;
    /** What no host resolver listens for on 127.0.0.1:53 (dnsmasq's warning); default: `ss` in the host namespace. */
    readonly missingResolver?: () => Promise<readonly ('udp' | 'tcp')[]>;
  };
}

export type NetworkEvent =
  /** `portForwarding` is the container's data, checked, for the port manager to turn into ports. */
  | { readonly type: 'attached'; readonly network: ContainerNetwork; readonly portForwarding: NetworkingData['portForwarding'] }
  | { readonly type: 'detached'; readonly id: string };

export interface NetworkingPlugin extends DobbyPlugin {
  /** The network of a container whose preStart ran and whose postStop has not; null otherwise. */
  addressOf(containerId: string): ContainerNetwork | null;
  /** Settles once the resolver checks of dnsmasq starts so far have been reported (they run after the start). */
  resolverChecksSettled(): Promise<void>;
  readonly events$: Observable<NetworkEvent>;
  /** The nat machinery (tests look at its chain names). */
  readonly nat: NatNetwork;
  readonly bridgeName: string;
  /** The bridge's IPv4 address, from the configured range (what containers reach the host at). */
  readonly bridgeIpv4: string;
}

export const DEFAULT_BRIDGE = 'dobby0';
export const DEFAULT_RANGE = '100.64.11.0/24';
export const DEFAULT_IPV6_PREFIX = '2080:d0bb:1e::';
export const DEFAULT_EXTERNAL_INTERFACES: readonly string[] = ['eth0', 'wlan0'];
export const DEFAULT_CHAIN_PREFIX = 'DOBBY-NET';
const RESOLV_CONF = '/etc/resolv.conf';

export function createNetworkingPlugin(options: NetworkingPluginOptions): NetworkingPlugin {
  const bridgeName = options.bridgeName ?? DEFAULT_BRIDGE;
  assertLinkName(bridgeName, 'networking bridgeName');
  const externalInterfaces = options.externalInterfaces ?? DEFAULT_EXTERNAL_INTERFACES;
  for (const e of externalInterfaces) assertLinkName(e, 'networking externalInterfaces entry');
  const chainPrefix = options.chainPrefix ?? DEFAULT_CHAIN_PREFIX;
  if (!/^DOBBY[A-Z0-9-]{0,12}$/.test(chainPrefix)) {
    throw new DobbyError('INVALID_ARGUMENT', `networking chainPrefix '${chainPrefix}' must start with DOBBY and hold at most 17 of A-Z 0-9 -`);
  }
  const range = parseIpv4Range(options.addressRange ?? DEFAULT_RANGE, 'networking addressRange');
  const ipv6Prefix = checkIpv6Prefix(options.ipv6Prefix ?? DEFAULT_IPV6_PREFIX, 'networking ipv6Prefix');
  const hostNetns = options.hostNetns ?? null;
  const logger = options.logger ?? silentLogger();
  const exec = options.drivers?.exec ?? new SpawnNetExec({ hostNetns, logger: logger.child({ driver: 'network' }) });
  const ip = options.drivers?.ip ?? new IpCommands(exec);
  const firewall = options.drivers?.firewall ?? new Iptables(exec, options.iptables === undefined ? {} : { binary: options.iptables });
  const sysctl = options.drivers?.sysctl ?? new SysctlCommand(exec);
  if (options.drivers?.firewall !== undefined && options.drivers.exec === undefined && options.drivers.linkFilter === undefined) {
    // A fake firewall with the real ebtables would change the real host's bridge tables.
    throw new DobbyError('INVALID_ARGUMENT', 'networking drivers: with a firewall driver of your own, give drivers.linkFilter too (a FakeLinkFilter, or null for none)');
  }
  const ebtables = options.ebtables === undefined ? 'ebtables' : options.ebtables;
  const linkFilter = options.drivers?.linkFilter !== undefined ? options.drivers.linkFilter : ebtables === null ? null : new Ebtables(exec, { binary: ebtables });
  // A fake firewall gets a fake router too: the real one would edit the real host's smcroute config.
  const fakeHost = options.drivers?.firewall !== undefined && options.drivers.exec === undefined;
  const multicastRouter = options.drivers?.multicastRouter ?? (fakeHost ? new FakeMulticastRouter() : new Smcroute(options.smcroute));
  // The same for the resolver check: the real host's listeners say nothing about a fake host (and
  // a real `ss` a hook's time limit gave up on would outlive the fakes' container).
  const missingResolvers = options.drivers?.missingResolver ?? (fakeHost ? async () => [] : () => missingResolver(exec));
  const allocator = new AddressAllocator({ file: join(options.stateDir, 'addresses.json'), range });
  // Real tools inside containers only with the real host tools: fake pids could name real processes.
  const inside = options.drivers?.inside !== undefined ? options.drivers.inside
    : options.drivers?.firewall === undefined || options.drivers.exec !== undefined ? (pid: number) => insideDrivers(exec, pid, options.iptables) : null;
  const bridgeAddress = ipv4ToString(bridgeIpv4(range));
  const resolvFiles = new ResolvFiles(join(options.stateDir, 'resolv'));
  const nat = new NatNetwork({
    bridge: bridgeName, allocator, ipv6Prefix, externalInterfaces, chainPrefix, ip, firewall, linkFilter, sysctl, hostNetns, logger, inside,
    multicastRouter,
    ...(options.ipv6 === false ? { ipv6: false } : {}),
    ...(options.drivers?.netnsIdentity === undefined ? {} : { netnsIdentity: options.drivers.netnsIdentity }),
  });
  const others = new Map<string, ContainerNetwork>();
  const resolverWarnings = new ResolverWarnings(missingResolvers, bridgeAddress, { freshMs: options.resolverAnswerMs });
  const events = new Subject<NetworkEvent>();

  const parse = (ctx: HookContext): NetworkingData => {
    try {
      const parsed = parseNetworkingData(ctx.data);
      for (const w of parsed.warnings) ctx.logger.warn(w);
      return parsed.data;
    } catch (err) {
      if (err instanceof DobbyError) throw new DobbyError(err.code, `container '${ctx.id}': ${err.message}`, { containerId: ctx.id });
      throw err;
    }
  };

  const plain = (id: string, pid: number, type: 'none' | 'open'): ContainerNetwork => ({
    id, type, pid, netnsPath: type === 'open' ? netnsPath(HOST, hostNetns) : netnsPath(pidTarget(pid), null),
    ipv4: null, ipv6: null, bridge: null, bridgeIpv4: null, bridgeIpv6: null, hostVeth: null, containerInterface: null,
  });

  const undo = async (ctx: HookContext): Promise<void> => {
    await nat.settled(ctx.id);
    const had = nat.get(ctx.id) !== null || others.has(ctx.id);
    others.delete(ctx.id);
    resolvFiles.remove(ctx.id);
    await nat.detach(ctx.id, ctx.logger);
    if (had) events.next({ type: 'detached', id: ctx.id });
  };

  return {
    name: NETWORKING_PLUGIN,
    hookHints: HookHint.PostConstructionSync | HookHint.PreStartSync | HookHint.PostStopSync | HookHint.PreDestructionSync,
    awaitedTeardown: true,
    // Its rules and links are its own records' to remove; the veth went with the container's namespace.
    teardownBesideRuntime: true,
    bridgeName,
    bridgeIpv4: bridgeAddress,
    nat,
    events$: events.asObservable(),
    addressOf: (id) => nat.get(id) ?? others.get(id) ?? null,
    resolverChecksSettled: () => resolverWarnings.settled(),

    postConstruction(ctx, startState) {
      const data = parse(ctx);
      if (data.type === 'open') return;
      startState.addNamespace('network');
      if (data.type !== 'nat') return;
      // The address, the bridge and the rules need no process: they go in while the runtime creates it.
      nat.prepare(ctx.id, data, ctx.logger);
      const mount = { destination: RESOLV_CONF, type: 'bind', options: ['ro', 'rbind', 'rprivate', 'nosuid', 'noexec', 'nodev'] };
      if (data.dnsmasq && data.ipv4) {
        startState.addMount({ ...mount, source: resolvFiles.write(ctx.id, bridgeAddress) });
        return;
      }
      if (data.dnsmasq) ctx.logger.warn('networking.data.dnsmasq: the kernel cannot DNAT IPv6 to the host\'s ::1, so an IPv6-only container gets no DNS forwarding; it gets the host\'s /etc/resolv.conf (add "ipv4": true for the forwarder)');
      if (existsSync(RESOLV_CONF)) startState.addMount({ ...mount, source: RESOLV_CONF });
    },

    async preStart(ctx) {
      const data = parse(ctx);
      let network: ContainerNetwork;
      // Both check first that the container has a namespace of its own (a StartAbort otherwise).
      if (data.type === 'nat') {
        network = await nat.attach(ctx.id, ctx.pid, data, ctx.logger, ctx.signal);
        if (data.dnsmasq && network.ipv4 !== null) resolverWarnings.check(ctx.logger);
      } else if (data.type === 'none') {
        // crun (and runc) bring lo up in a new namespace already; this makes sure of it for any runtime.
        await ip.apply(pidTarget(ctx.pid), [{ op: 'up', link: 'lo' }], ctx.id);
        network = plain(ctx.id, ctx.pid, 'none');
        others.set(ctx.id, network);
      } else {
        if (!(await nat.sharesHostNetns(ctx.pid).catch(() => true))) {
          ctx.logger.warn('networking type "open" but the container has a network namespace of its own: it sees only its loopback (drop {"type": "network"} from linux.namespaces for the host network)');
        }
        network = plain(ctx.id, ctx.pid, 'open');
        others.set(ctx.id, network);
      }
      events.next({ type: 'attached', network, portForwarding: data.portForwarding });
    },

    async postStop(ctx) {
      await undo(ctx);
    },

    async preDestruction(ctx) {
      await undo(ctx);
    },
  };
}
