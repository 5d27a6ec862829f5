// The fault-injection property, reduced, against real crun and conmon: random lifecycles with a random
// failure injected (a runtime call, the monitor's create, a plugin hook that throws, returns false or
// hangs) always end with every caller answered and nothing left: no container in crun's root, no
// record, launch config or monitor file, no cgroup, no mount, no plugin resource (a test plugin's fd,
// httpproxy's CA bundle file), no fd in the daemon.
// The gpu and ionmemory plugins run beside them on vendor cgroup controllers simulated by directories
// of the scratch dir (named as cgroup mounts in a mountinfo file of the test): their dirs go too.

import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { filter, firstValueFrom, timeout } from 'rxjs';
import type { LifecycleEvent } from '../../src/bus.ts';
import { realCgroupProbe } from '../../src/daemon.ts';
import { ConmonMonitor } from '../../src/drivers/monitor/conmon-monitor.ts';
import { FaultyMonitor } from '../../src/drivers/monitor/faulty-monitor.ts';
import { FileContainerRecords } from '../../src/drivers/records/container-records.ts';
import { FaultyRuntime, type RuntimeVerb } from '../../src/drivers/runtime/faulty-runtime.ts';
import { OciCliRuntime } from '../../src/drivers/runtime/oci-cli-runtime.ts';
import { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager } from '../../src/manager.ts';
import { createGpuPlugin } from '../../src/plugins/gpu/plugin.ts';
import { createIonMemoryPlugin } from '../../src/plugins/ionmemory/plugin.ts';
import { createHttpProxyPlugin } from '../../src/plugins/httpproxy/plugin.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { HOOK_POINTS, syncHint, type DobbyPlugin, type HookPoint } from '../../src/plugins/types.ts';
import { faultyPlugin } from '../helpers/faulty-plugin.ts';
import { makeBundle } from '../helpers/bundle.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const dirs = scratch.dirs('crun');
const daemonDir = join(scratch.dir, 'crun', 'daemon');
const recordsDir = join(daemonDir, 'containers');
const configsDir = join(daemonDir, 'configs');

type Fault =
  | { readonly kind: 'none' }
  | { readonly kind: 'call'; readonly verb: RuntimeVerb | 'create' }
  | { readonly kind: 'hook'; readonly point: HookPoint; readonly how: 'throw' | 'false' | 'hang' };

/** The one fault armed for the lifecycle in progress; a runtime or monitor fault fires once. */
let armed: Fault = { kind: 'none' };

const plan = (verb: RuntimeVerb | 'create'): boolean => {
  if (armed.kind !== 'call' || armed.verb !== verb) return false;
  armed = { kind: 'none' };
  return true;
};

const runtime = new FaultyRuntime(new OciCliRuntime({ binary: 'crun', root: dirs.runtimeRoot }), plan);
const realMonitor = new ConmonMonitor({ runtime: new OciCliRuntime({ binary: 'crun', root: dirs.runtimeRoot }), stateDir: dirs.stateDir });
const monitor = new FaultyMonitor(realMonitor, plan);

/** Fds the keeper plugin holds between postConstruction and preDestruction, by container. */
const held = new Map<string, number>();

const keeper: DobbyPlugin = {
  name: 'keeper',
  hookHints: syncHint('postConstruction') | syncHint('preDestruction'),
  postConstruction: (ctx, state) => {
    const fd = openSync('/dev/null', 'r');
    held.set(ctx.id, fd);
    state.addFileDescriptor('keeper', fd);
  },
  preDestruction: (ctx) => {
    const fd = held.get(ctx.id);
    if (fd !== undefined) closeSync(fd);
    held.delete(ctx.id);
  },
};

const vendorCgroups = { gpu: join(scratch.dir, 'gpu-cgroup'), ion: join(scratch.dir, 'ion-cgroup') };
const mountinfo = join(scratch.dir, 'mountinfo');
for (const dir of Object.values(vendorCgroups)) mkdirSync(dir);
writeFileSync(mountinfo, Object.entries(vendorCgroups).map(([controller, dir], i) => `${40 + i} 30 0:9${i} / ${dir} rw,relatime - cgroup cgroup rw,${controller}\n`).join(''));
/** A built-in plugin with a host file per container (httpproxy's CA bundle), run before the faulty one. */
const proxyDir = join(daemonDir, 'httpproxy');
const PROXY_CA = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'proxy-ca.pem'), 'utf8');

const registry = new PluginRegistry();
registry.register(faultyPlugin((point) => (armed.kind === 'hook' && armed.point === point ? armed.how : null)));
registry.register(keeper);
registry.register(createGpuPlugin({ mountinfo }));
registry.register(createIonMemoryPlugin({ mountinfo }));
registry.register(createHttpProxyPlugin({ workDir: proxyDir }));

const manager = createContainerManager({
  runtime,
  monitor,
  cgroups: realCgroupProbe,
  records: new FileContainerRecords(recordsDir),
  logger: silentLogger(),
  stateDir: daemonDir,
  stopGraceMs: 1_000,
  killWaitMs: 3_000,
  plugins: registry,
  hookTimeoutMs: 300,
});
const events: LifecycleEvent[] = [];
const sub = manager.events$.subscribe((e) => events.push(e));
after(async () => {
  armed = { kind: 'none' };
  await manager.shutdown({ force: true, timeoutMs: 20_000 });
  sub.unsubscribe();
  manager.close();
  realMonitor.close();
});

const fault: fc.Arbitrary<Fault> = fc.oneof(
  fc.constant<Fault>({ kind: 'none' }),
  fc.constantFrom<RuntimeVerb | 'create'>('create', 'start', 'kill', 'delete').map((verb): Fault => ({ kind: 'call', verb })),
  fc.record({ kind: fc.constant('hook' as const), point: fc.constantFrom(...HOOK_POINTS), how: fc.constantFrom('throw' as const, 'false' as const, 'hang' as const) }),
);
const ending = fc.constantFrom('exits' as const, 'stop' as const, 'force' as const);

const listed = (dir: string, id: string) => readdirSync(dir, { withFileTypes: false }).filter((n) => String(n).startsWith(id));
const mountsUnder = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir)).length;
const openFds = () => readdirSync('/proc/self/fd').length;
const cgroupDirsOf = (id: string) => readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c, id)).filter((d) => existsSync(d));

async function lifecycle(f: Fault, end: 'exits' | 'stop' | 'force'): Promise<void> {
  const id = scratch.id('fault');
  const args = end === 'exits' ? ['/bin/sh', '-c', 'sleep 0.2; exit 3'] : ['/bin/sleep', '1000'];
  const bundle = await makeBundle(join(scratch.bundlesDir, id), { args, init: true });
  const { writeConfig } = await import('../helpers/bundle.ts');
  await writeConfig(bundle, { args, init: true }, (c) => {
    c['rdkPlugins'] = {
      httpproxy: { required: true, data: { proxy: { host: 'proxy.test', port: 3128 }, proxyRootCACert: PROXY_CA } },
      faulty: { required: true, dependsOn: ['httpproxy'] }, keeper: { required: true, dependsOn: ['faulty'] },
      gpu: { required: true, data: { memory: 4096 } }, ionmemory: { required: true, data: { defaultLimit: 8192 } },
    };
  });
  const deleted = firstValueFrom(manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted'), timeout(30_000)));
  armed = f;
  let descriptor: number | null = null;
  try {
    descriptor = await manager.start({ id, bundle });
  } catch (err) {
    assert.ok(err instanceof DobbyError, `the start was answered with something that is not a DobbyError: ${String(err)}`);
  }
  if (descriptor !== null && end !== 'exits') {
    await manager.stop(descriptor, end === 'force').catch((err: unknown) => {
      assert.ok(err instanceof DobbyError, `the stop was answered with something that is not a DobbyError: ${String(err)}`);
    });
  }
  await deleted;
  armed = { kind: 'none' };
  assert.equal(manager.findById(id), undefined, 'the container is still listed');
  assert.equal(await runtime.state(id), null, 'the container is still in crun');
  assert.deepEqual(listed(recordsDir, id), [], 'a record was left');
  if (existsSync(configsDir)) assert.deepEqual(listed(configsDir, id), [], 'a launch config was left');
  assert.deepEqual(readdirSync(join(dirs.stateDir, 'pids')).filter((n) => n.startsWith(id)), [], 'monitor files were left');
  assert.deepEqual(cgroupDirsOf(id), [], 'a cgroup was left');
  assert.equal(held.has(id), false, 'the plugin resource was not released');
  for (const dir of Object.values(vendorCgroups)) assert.ok(!existsSync(join(dir, id)), `${dir}/${id} was left`);
  if (existsSync(proxyDir)) assert.deepEqual(listed(proxyDir, id), [], 'httpproxy\'s CA bundle was left');
  const types = events.filter((e) => e.id === id && e.type !== 'hook').map((e) => e.type).join(' ');
  assert.match(types, /^(created started( paused resumed)* exited deleted|(created )?start-failed deleted)$/, `events: ${types}`);
}

describe('fault injection over real crun', () => {
  test('random lifecycles with random faults leave nothing behind', async () => {
    // One clean lifecycle first: the monitor opens its exit watch (an inotify fd) on the first create.
    await lifecycle({ kind: 'none' }, 'force');
    const fdsBefore = openFds();
    const mountsBefore = mountsUnder(scratch.dir);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fault, ending), { minLength: 1, maxLength: 2 }), async (runs) => {
        for (const [f, end] of runs) await lifecycle(f, end);
      }),
      { numRuns: 8, endOnFailure: true },
    );
    assert.equal(mountsUnder(scratch.dir), mountsBefore, 'a mount was left');
    assert.equal(openFds(), fdsBefore, 'an fd was left open in the daemon');
  });
});
