// The whole daemon's fault property over fakes: the manager on the fake runtime and monitor, the real
// networking plugin on the fake ip/firewall/sysctl, and the real port manager and port actor on the
// fake port driver. Random lifecycles of nat containers with portForwarding, each with one fault
// injected (a runtime call, a plugin hook, a network set-up batch or smcroute call, a port add), always
// end with every caller answered, and after everything settles nothing is leaked: no container,
// record or fd on the host, no link, firewall rule, smcroute block or sysctl change, no lease, no
// port, no dnsmasq resolv.conf file.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { filter, firstValueFrom, timeout } from 'rxjs';
import type { CgroupProbe } from '../../src/actors/container-actors.ts';
import { containerTargets, createPortActor } from '../../src/actors/port-actor.ts';
import type { LifecycleEvent } from '../../src/bus.ts';
import { createFakes } from '../../src/drivers/monitor/fake-monitor.ts';
import { FakeFirewall } from '../../src/drivers/network/fake-firewall.ts';
import { FakeIp } from '../../src/drivers/network/fake-ip.ts';
import { FakeLinkFilter } from '../../src/drivers/network/ebtables.ts';
import { faultyFirewall, faultyIp, faultyLinkFilter } from '../../src/drivers/network/faulty.ts';
import { FakeMulticastRouter } from '../../src/drivers/network/smcroute-fake.ts';
import { FakeSysctl } from '../../src/drivers/network/sysctl.ts';
import { FakePortDriver } from '../../src/drivers/ports/fake-driver.ts';
import { createPortManager } from '../../src/drivers/ports/port-manager.ts';
import { MemoryContainerRecords } from '../../src/drivers/records/container-records.ts';
import type { FakeVerb } from '../../src/drivers/runtime/fake-host.ts';
import { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager } from '../../src/manager.ts';
import { createNetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { HOOK_POINTS, type HookPoint } from '../../src/plugins/types.ts';
import { faultyPlugin } from '../helpers/faulty-plugin.ts';

const dir = mkdtempSync(join(tmpdir(), 'dobby-system-faults-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const noCgroups: CgroupProbe = { pathsOf: async () => null, oomKillCount: async () => 0 };

type Fault =
  | { readonly kind: 'none' }
  | { readonly kind: 'runtime'; readonly verb: FakeVerb }
  | { readonly kind: 'hook'; readonly point: HookPoint; readonly how: 'throw' | 'false' | 'hang' }
  | { readonly kind: 'network'; readonly at: number }
  | { readonly kind: 'port' };

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  fc.constant<Fault>({ kind: 'none' }),
  fc.constantFrom<FakeVerb>('create', 'start', 'kill', 'delete').map((verb): Fault => ({ kind: 'runtime', verb })),
  fc.record({ kind: fc.constant('hook' as const), point: fc.constantFrom(...HOOK_POINTS), how: fc.constantFrom('throw' as const, 'false' as const, 'hang' as const) }),
  fc.integer({ min: 1, max: 10 }).map((at): Fault => ({ kind: 'network', at })),
  fc.constant<Fault>({ kind: 'port' }),
);

let worlds = 0;

function system() {
  const fakes = createFakes();
  const ip = new FakeIp();
  const fw = new FakeFirewall();
  // Rules of the host's own that must stay where they are.
  fw.seed(4, 'filter', 'FORWARD', ['-s', '198.51.100.7/32', '-j', 'DROP']);
  fw.seed(4, 'nat', 'POSTROUTING', ['-d', '198.51.100.8/32', '-j', 'RETURN']);
  const sysctl = new FakeSysctl();
  let fault: Fault = { kind: 'none' };
  let networkCalls = 0;
  const networkFault = (): boolean => fault.kind === 'network' && ++networkCalls === fault.at;
  const networkDir = join(dir, `net-${++worlds}`);
  const router = new FakeMulticastRouter();
  router.failWhen = (what) => what !== 'remove' && networkFault();
  const networking = createNetworkingPlugin({
    stateDir: networkDir, bridgeName: 'fakebr0', externalInterfaces: ['ext0'],
    drivers: {
      ip: faultyIp(ip, { ip: networkFault }), firewall: faultyFirewall(fw, { firewall: networkFault }),
      linkFilter: faultyLinkFilter(new FakeLinkFilter(), { linkFilter: networkFault }), sysctl, netnsIdentity: async (path) => path,
      multicastRouter: router,
    },
  });
  const registry = new PluginRegistry();
  registry.register(networking);
  registry.register(faultyPlugin((point) => (fault.kind === 'hook' && fault.point === point ? fault.how : null)));

  // The fake host's processes get a network namespace of the fake ip driver while they live.
  const pids = new Map<string, number>();
  const create = fakes.monitor.create.bind(fakes.monitor);
  fakes.monitor.create = async (options) => {
    const created = await create(options);
    ip.addNamespace(created.pid);
    pids.set(options.id, created.pid);
    return created;
  };
  const gone = (id: string): void => {
    const pid = pids.get(id);
    if (pid !== undefined) ip.removeNamespace(pid);
    pids.delete(id);
  };
  fakes.host.exitsSubject.subscribe((e) => gone(e.id));
  const del = fakes.runtime.delete.bind(fakes.runtime);
  fakes.runtime.delete = async (id, options) => {
    await del(id, options);
    gone(id);
  };

  const manager = createContainerManager({
    runtime: fakes.runtime, monitor: fakes.monitor, cgroups: noCgroups, records: new MemoryContainerRecords(),
    logger: silentLogger(), stateDir: dir, stopGraceMs: 10, killWaitMs: 50, plugins: registry, hookTimeoutMs: 30,
  });
  const portDriver = new FakePortDriver();
  portDriver.failWhen = () => fault.kind === 'port';
  const ports = createPortActor({
    ports: createPortManager({ drivers: { nat: portDriver }, resolveTarget: containerTargets(manager, networking) }),
    containerEvents$: manager.events$,
    networkEvents$: networking.events$,
    logger: silentLogger(),
  });
  return {
    fakes, ip, fw, sysctl, router, networking, manager, ports, portDriver,
    resolvFiles: (): string[] => (existsSync(join(networkDir, 'resolv')) ? readdirSync(join(networkDir, 'resolv')) : []),
    arm(f: Fault): void {
      fault = f;
      networkCalls = 0;
      if (f.kind === 'runtime') fakes.host.failNext(f.verb, new DobbyError('RUNTIME_FAILED', `injected ${f.verb} failure`, { verb: f.verb }));
    },
    disarm(): void {
      fault = { kind: 'none' };
      fakes.host.clearFailures();
    },
    async hostState(): Promise<string> {
      return JSON.stringify([ip.snapshot()['host'], await fw.save(4), await fw.save(6), [...sysctl.values], [...router.blocks]]);
    },
  };
}

/** This process's open fds and what each is (a file's path, a pipe, a socket), to name a leak. */
function openFdTargets(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return `${fd} (closed while listed: the listing's own fd)`;
    }
  }).filter((line) => !line.endsWith('(closed while listed: the listing\'s own fd)'));
}

function bundleFor(id: string, port: number, dnsmasq: boolean): string {
  const bundle = join(dir, id);
  mkdirSync(join(bundle, 'rootfs'), { recursive: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({
    ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/true'], cwd: '/' },
    linux: { namespaces: [{ type: 'network' }, { type: 'pid' }, { type: 'mount' }] },
    rdkPlugins: {
      faulty: { required: true },
      networking: {
        required: true, dependsOn: ['faulty'],
        data: { type: 'nat', dnsmasq, portForwarding: { hostToContainer: [{ port, protocol: 'tcp' }] }, multicastForwarding: [{ ip: '239.255.255.250', port: 1900 }] },
      },
    },
  }));
  return bundle;
}

test('lifecycles of nat containers with ports, a fault in any layer, leak nothing anywhere', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(faultArb, fc.constantFrom('exits' as const, 'stop' as const, 'force' as const)), { minLength: 1, maxLength: 6 }),
    async (runs) => {
      const s = system();
      const before = await s.hostState();
      const fdsBefore = openFdTargets();
      const events: LifecycleEvent[] = [];
      const sub = s.manager.events$.subscribe((e) => events.push(e));
      try {
        let n = 0;
        for (const [fault, end] of runs) {
          const id = `sys${++n}`;
          const bundle = bundleFor(id, 8000 + n, n % 2 === 1);
          const deleted = firstValueFrom(s.manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted'), timeout(5_000)));
          s.arm(fault);
          let descriptor: number | null = null;
          try {
            descriptor = await s.manager.start({ id, bundle });
          } catch (err) {
            assert.ok(err instanceof DobbyError, `start answered with ${String(err)}`);
          }
          if (descriptor !== null && fault.kind === 'none') {
            // Without a fault the container really is on the bridge with its forwarded port.
            assert.notEqual(s.networking.addressOf(id), null, `${id}: no address while running`);
            assert.ok(s.router.blocks.has(id), `${id}: its multicastForwarding has no smcroute block`);
            for (let i = 0; i < 50 && s.ports.listPorts().length === 0; i++) await new Promise((r) => setTimeout(r, 2));
            assert.deepEqual(s.ports.listPorts().map((p) => p.spec.parentPort), [8000 + n], `${id}: its portForwarding is not applied`);
            assert.deepEqual(s.resolvFiles(), n % 2 === 1 ? [`${id}.conf`] : [], `${id}: dnsmasq's resolv.conf file`);
          }
          if (descriptor !== null) {
            if (end === 'exits') s.fakes.host.exit(id, 3);
            else await s.manager.stop(descriptor, end === 'force').catch((err: unknown) => assert.ok(err instanceof DobbyError, String(err)));
          }
          await deleted;
          s.disarm();
          // The port actor removes ports on the container's events: let it finish.
          for (let i = 0; i < 50 && s.ports.listPorts().length > 0; i++) await new Promise((r) => setTimeout(r, 2));
          assert.deepEqual(s.ports.listPorts(), [], `${id}: a port outlived its container`);
          assert.equal(s.portDriver.active.size, 0, `${id}: the port driver still forwards`);
          assert.equal(s.networking.addressOf(id), null, `${id}: the address lease is still held`);
          assert.deepEqual(s.resolvFiles(), [], `${id}: its dnsmasq resolv.conf file is still there`);
        }
        s.fakes.host.assertClean();
        assert.equal(await s.hostState(), before, 'links, firewall rules or sysctls were left changed');
        assert.deepEqual(openFdTargets(), fdsBefore, 'an fd was left open (or one open before was closed meanwhile)');
        const byId = new Map<string, string[]>();
        for (const e of events) if (e.type !== 'hook') byId.set(e.id, [...(byId.get(e.id) ?? []), e.type]);
        for (const [id, types] of byId) {
          assert.match(types.join(' '), /^(created started exited deleted|(created )?start-failed deleted)$/, `${id}: ${types.join(' ')}`);
        }
      } finally {
        sub.unsubscribe();
        await s.ports.close();
        s.manager.close();
      }
    },
  ), { numRuns: 60 });
});
