// Benchmark: 10 concurrent starts of nat containers against 10 without networking, through the
// in-process manager with the networking plugin, alternated, in namespaces of our own (the plugin's
// "host" is a test namespace, so the real host network is never touched). Figures and a ratio only.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { filter, firstValueFrom } from 'rxjs';
import { realCgroupProbe } from '../src/daemon.ts';
import { ConmonMonitor } from '../src/drivers/monitor/conmon-monitor.ts';
import { FileContainerRecords } from '../src/drivers/records/container-records.ts';
import { OciCliRuntime } from '../src/drivers/runtime/oci-cli-runtime.ts';
import { silentLogger } from '../src/log.ts';
import { createContainerManager, type Manager } from '../src/manager.ts';
import { createNetworkingPlugin } from '../src/plugins/networking/plugin.ts';
import { PluginRegistry } from '../src/plugins/registry.ts';
import { makeBundle, writeConfig } from '../test/helpers/bundle.ts';
import { HOST_EXT_IFACE, makeTestNetwork } from '../test/helpers/netns.ts';
import { alternate, fmtMs, fmtRatio, pairRatios, summarise } from './stats.ts';

const MANY = 10;

async function stopAll(manager: Manager, started: readonly { d: number; id: string }[]): Promise<void> {
  await Promise.all(started.map(async ({ d, id }) => {
    const deleted = firstValueFrom(manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted')));
    await manager.stop(d, true);
    await deleted;
  }));
}

export async function benchNetwork(options: { readonly rounds: number; readonly warmup: number }): Promise<void> {
  const dir = join('/tmp', `dobby-bench-net-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const net = await makeTestNetwork({ register: false });
  const sleeper = { args: ['/bin/sleep', '1000'], init: true } as const;
  const plain: string[] = [];
  const nat: string[] = [];
  for (let i = 0; i < MANY; i++) {
    plain.push(await makeBundle(join(dir, `plain-${i}`), sleeper));
    const b = await makeBundle(join(dir, `nat-${i}`), sleeper);
    await writeConfig(b, sleeper, (config) => {
      config['rdkPlugins'] = { networking: { required: true, data: { type: 'nat', ipv4: true } } };
    });
    nat.push(b);
  }
  const plugins = new PluginRegistry();
  plugins.register(createNetworkingPlugin({ stateDir: join(dir, 'network'), hostNetns: net.hostNs, bridgeName: 'benchbr0', externalInterfaces: [HOST_EXT_IFACE] }));
  const runtime = new OciCliRuntime({ binary: 'crun', root: join(dir, 'root') });
  const monitor = new ConmonMonitor({ runtime, stateDir: join(dir, 'monitor') });
  const manager = createContainerManager({
    runtime, monitor, cgroups: realCgroupProbe, records: new FileContainerRecords(join(dir, 'state', 'containers')),
    logger: silentLogger(), stateDir: join(dir, 'state'), plugins,
  });
  const startMany = async (bundles: readonly string[], prefix: string): Promise<number> => {
    const ids = bundles.map((_, i) => `${prefix}-${i}`);
    const t0 = performance.now();
    const ds = await Promise.all(ids.map((id, i) => manager.start({ id, bundle: bundles[i] as string })));
    const ms = performance.now() - t0;
    await stopAll(manager, ds.map((d, i) => ({ d, id: ids[i] as string })));
    return ms;
  };
  try {
    const samples = await alternate(
      [
        { name: 'plain', run: (round) => startMany(plain, `bench-plain-${round + options.warmup}`) },
        { name: 'nat', run: (round) => startMany(nat, `bench-nat-${round + options.warmup}`) },
      ],
      options.rounds,
      options.warmup,
    );
    const p = samples.get('plain') ?? [];
    const n = samples.get('nat') ?? [];
    console.log(`${MANY} concurrent starts → all running, networking plugin (bridge in a test namespace)`);
    console.log(`  own netns, no networking plugin ×${MANY}     ${fmtMs(summarise(p))}`);
    console.log(`  nat (veth, address, route, bridge) ×${MANY}  ${fmtMs(summarise(n))}`);
    console.log(`  ratio nat/plain, per pair             ${fmtRatio(pairRatios(n, p))}\n`);
  } finally {
    await manager.shutdown({ force: true, timeoutMs: 20_000 });
    manager.close();
    monitor.close();
    await net.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run on its own: node bench/network-bench.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  benchNetwork({ rounds: Number(process.env['BENCH_ROUNDS'] ?? 10), warmup: 1 }).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
