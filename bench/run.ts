// npm run bench: start latency, concurrent starts and idle memory of dobbyd, each measured in the
// same run, alternately, against raw crun (and a bare node), printed as figures and ratios.

import { mkdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { filter, firstValueFrom } from 'rxjs';
import { realCgroupProbe } from '../src/daemon.ts';
import { ConmonMonitor } from '../src/drivers/monitor/conmon-monitor.ts';
import { OciCliRuntime } from '../src/drivers/runtime/oci-cli-runtime.ts';
import { FileContainerRecords } from '../src/drivers/records/container-records.ts';
import { silentLogger } from '../src/log.ts';
import { createContainerManager, type Manager } from '../src/manager.ts';
import { makeBundle } from '../test/helpers/bundle.ts';
import { benchDaemon } from './daemon-bench.ts';
import { benchPorts } from './ports-bench.ts';
import { benchNetwork } from './network-bench.ts';
import { rawDelete, rawStart, rawStartMany } from './raw-crun.ts';
import { alternate, fmtMs, fmtRatio, pairRatios, summarise } from './stats.ts';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 30);
const WARMUP = 3;
const MANY = 10;

async function stopAndWait(manager: Manager, descriptor: number, id: string): Promise<void> {
  const deleted = firstValueFrom(manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted')));
  await manager.stop(descriptor, true);
  await deleted;
}

async function main(): Promise<void> {
  if (process.env['NODE_EXTRA_CA_CERTS'] !== undefined) {
    throw new Error('run the benchmark with NODE_EXTRA_CA_CERTS unset (npm run bench does this)');
  }
  const dir = join('/tmp', `dobby-bench-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const crun = 'crun';
  const rawRoot = join(dir, 'raw-root');
  const sleeper = { args: ['/bin/sleep', '1000'], init: true } as const;
  const rawBundles: string[] = [];
  const ourBundles: string[] = [];
  for (let i = 0; i < MANY; i++) {
    rawBundles.push(await makeBundle(join(dir, `raw-${i}`), sleeper));
    ourBundles.push(await makeBundle(join(dir, `ours-${i}`), sleeper));
  }
  const runtime = new OciCliRuntime({ binary: crun, root: join(dir, 'ours-root') });
  const monitor = new ConmonMonitor({ runtime, stateDir: join(dir, 'monitor') });
  const manager = createContainerManager({
    runtime,
    monitor,
    cgroups: realCgroupProbe,
    records: new FileContainerRecords(join(dir, 'state', 'containers')),
    logger: silentLogger(),
    stateDir: join(dir, 'state'),
    maxRuntimeProcesses: Math.max(2, availableParallelism() * 2),
  });
  console.log(`dobby-ts bench: ${ROUNDS} rounds after ${WARMUP} warm-up, variants alternated; NODE_EXTRA_CA_CERTS unset`);
  console.log(`host: ${availableParallelism()} cores, crun, conmon; container: busybox sleep under tini\n`);

  try {
    // 1. One start → running, in-process manager (conmon create + crun start) against raw crun.
    const single = await alternate(
      [
        {
          name: 'raw',
          run: async (round) => {
            const id = `bench-raw-${round + WARMUP}`;
            const ms = await rawStart(crun, rawRoot, rawBundles[0] as string, id);
            await rawDelete(crun, rawRoot, id);
            return ms;
          },
        },
        {
          name: 'manager',
          run: async (round) => {
            const id = `bench-mgr-${round + WARMUP}`;
            const t0 = performance.now();
            const d = await manager.start({ id, bundle: ourBundles[0] as string });
            const ms = performance.now() - t0;
            await stopAndWait(manager, d, id);
            return ms;
          },
        },
      ],
      ROUNDS,
      WARMUP,
    );
    const raw = single.get('raw') ?? [];
    const ours = single.get('manager') ?? [];
    console.log('start → running (one container)');
    console.log(`  raw crun run --detach + crun state   ${fmtMs(summarise(raw))}`);
    console.log(`  manager start (in-process)            ${fmtMs(summarise(ours))}`);
    console.log(`  ratio manager/raw, per pair           ${fmtRatio(pairRatios(ours, raw))}\n`);

    // 2. Ten concurrent starts.
    const many = await alternate(
      [
        {
          name: 'raw',
          run: async (round) => {
            const ids = rawBundles.map((_, i) => `bench-rawm-${round + WARMUP}-${i}`);
            const ms = await rawStartMany(crun, rawRoot, rawBundles, ids);
            await Promise.all(ids.map((id) => rawDelete(crun, rawRoot, id)));
            return ms;
          },
        },
        {
          name: 'manager',
          run: async (round) => {
            const ids = ourBundles.map((_, i) => `bench-mgrm-${round + WARMUP}-${i}`);
            const t0 = performance.now();
            const ds = await Promise.all(ids.map((id, i) => manager.start({ id, bundle: ourBundles[i] as string })));
            const ms = performance.now() - t0;
            await Promise.all(ds.map((d, i) => stopAndWait(manager, d, ids[i] as string)));
            return ms;
          },
        },
      ],
      Math.max(5, Math.round(ROUNDS / 3)),
      1,
    );
    const rawMany = many.get('raw') ?? [];
    const oursMany = many.get('manager') ?? [];
    console.log(`${MANY} concurrent starts → all running`);
    console.log(`  raw crun ×${MANY}                          ${fmtMs(summarise(rawMany))}`);
    console.log(`  manager ×${MANY} (in-process)              ${fmtMs(summarise(oursMany))}`);
    console.log(`  ratio manager/raw, per pair           ${fmtRatio(pairRatios(oursMany, rawMany))}\n`);

    // 3. The real daemon over D-Bus: start latency, GetState, idle memory.
    await benchDaemon({ dir, crun, rawRoot, rawBundles, ourBundles, rounds: ROUNDS, warmup: WARMUP });

    // 4. TCP throughput through each port driver against a direct connection, in test namespaces.
    await benchPorts({ rounds: Math.max(5, Math.round(ROUNDS / 3)), warmup: 1, mib: Number(process.env['BENCH_PORT_MB'] ?? 128), budgetMs: 90_000 });

    // 5. Ten concurrent starts in nat mode against the same without networking, in test namespaces.
    await benchNetwork({ rounds: Math.max(5, Math.round(ROUNDS / 3)), warmup: 1 });
  } finally {
    await manager.shutdown({ force: true, timeoutMs: 20_000 });
    manager.close();
    monitor.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
