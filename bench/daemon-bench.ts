// The real dobbyd process over D-Bus: StartFromBundle → Running against raw crun, GetState round trip,
// ten concurrent starts, and the daemon's idle RSS against a bare node.

import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawDelete, rawStart, rawStartMany } from './raw-crun.ts';
import { bareNodeRssKiB, cleanEnv, rssKiB } from './rss.ts';
import { alternate, fmtMs, fmtRatio, pairRatios, summarise } from './stats.ts';

// dbus-next is CommonJS without types of its own worth importing here; the few calls below are typed by hand.
const require = createRequire(import.meta.url);
const dbus = require('dbus-next') as DbusNext;

interface DbusVariantMessage {
  readonly body: unknown[];
}
interface DbusBus {
  call(message: unknown): Promise<DbusVariantMessage>;
  disconnect(): void;
}
interface DbusNext {
  sessionBus(options: { busAddress: string; negotiateUnixFd?: boolean }): DbusBus;
  Message: new (options: Record<string, unknown>) => unknown;
}

export interface DaemonBenchOptions {
  readonly dir: string;
  readonly crun: string;
  readonly rawRoot: string;
  /** One raw bundle per concurrent container: crun cannot run two containers from one bundle dir. */
  readonly rawBundles: readonly string[];
  readonly ourBundles: readonly string[];
  readonly rounds: number;
  readonly warmup: number;
}

const ROOT = resolve(import.meta.dirname, '..');

async function startDaemon(stateDir: string): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(join(ROOT, 'bin', 'dobbyd'), ['--private-bus', '--state-dir', stateDir, '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: cleanEnv(),
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const address = await new Promise<string>((resolveAddress, reject) => {
    const timer = setTimeout(() => reject(new Error('dobbyd did not print DBUS_ADDRESS within 15 s')), 15_000);
    child.once('exit', (code) => reject(new Error(`dobbyd exited with ${code} before it was ready`)));
    lines.on('line', (line) => {
      if (line.startsWith('DBUS_ADDRESS=')) {
        clearTimeout(timer);
        resolveAddress(line.slice('DBUS_ADDRESS='.length));
      }
    });
  });
  return { child, address };
}

function call(bus: DbusBus, iface: string, member: string, signature: string, body: unknown[]): Promise<DbusVariantMessage> {
  return bus.call(
    new dbus.Message({ destination: 'org.rdk.dobby', path: '/org/rdk/dobby', interface: iface, member, signature, body }),
  );
}

const CTRL = 'org.rdk.dobby.ctrl1';

async function startOverDbus(bus: DbusBus, id: string, bundle: string): Promise<number> {
  const reply = await call(bus, CTRL, 'StartFromBundle', 'ssahssasuu', [id, bundle, [], '', '', [], 0, 0]);
  const descriptor = reply.body[0] as number;
  if (descriptor < 0) throw new Error(`StartFromBundle ${id} returned ${descriptor}`);
  return descriptor;
}

async function stopOverDbus(bus: DbusBus, descriptor: number): Promise<void> {
  await call(bus, CTRL, 'Stop', 'ib', [descriptor, true]);
  // Wait until the descriptor is gone (GetState answers 0) so rounds do not overlap.
  for (;;) {
    const state = await call(bus, CTRL, 'GetState', 'i', [descriptor]);
    if (state.body[0] === 0) return;
    await sleep(2);
  }
}

export async function benchDaemon(options: DaemonBenchOptions): Promise<void> {
  const node = process.execPath;
  const { child, address } = await startDaemon(join(options.dir, 'daemon-state'));
  const bus = dbus.sessionBus({ busAddress: address, negotiateUnixFd: true });
  try {
    await sleep(1500);
    const idleDaemon = await rssKiB(child.pid as number);
    const bare = await bareNodeRssKiB(node, 1500);
    console.log('idle memory (VmRSS, 1.5 s after start)');
    console.log(`  bare node                              ${(bare / 1024).toFixed(1)} MiB`);
    console.log(`  dobbyd, idle                           ${(idleDaemon / 1024).toFixed(1)} MiB`);
    console.log(`  ratio dobbyd/node                      ${(idleDaemon / bare).toFixed(2)}\n`);

    const single = await alternate(
      [
        {
          name: 'raw',
          run: async (round) => {
            const id = `bench-draw-${round + options.warmup}`;
            const ms = await rawStart(options.crun, options.rawRoot, options.rawBundles[0] as string, id);
            await rawDelete(options.crun, options.rawRoot, id);
            return ms;
          },
        },
        {
          name: 'dbus',
          run: async (round) => {
            const id = `bench-dbus-${round + options.warmup}`;
            const t0 = performance.now();
            const d = await startOverDbus(bus, id, options.ourBundles[0] as string);
            const ms = performance.now() - t0;
            await stopOverDbus(bus, d);
            return ms;
          },
        },
      ],
      options.rounds,
      options.warmup,
    );
    const raw = single.get('raw') ?? [];
    const ours = single.get('dbus') ?? [];
    console.log('D-Bus StartFromBundle → reply (Running; Started is emitted before it)');
    console.log(`  raw crun run --detach + crun state   ${fmtMs(summarise(raw))}`);
    console.log(`  dobbyd over D-Bus                     ${fmtMs(summarise(ours))}`);
    console.log(`  ratio dobbyd/raw, per pair            ${fmtRatio(pairRatios(ours, raw))}`);
    // Idle again, with every container gone: what the idle figure grows to once the start path has run.
    const afterStarts = await rssKiB(child.pid as number);
    console.log(`  dobbyd VmRSS after these ${options.rounds + options.warmup} starts ${(afterStarts / 1024).toFixed(1)} MiB\n`);

    const d = await startOverDbus(bus, 'bench-getstate', options.ourBundles[0] as string);
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t0 = performance.now();
      await call(bus, CTRL, 'GetState', 'i', [d]);
      times.push(performance.now() - t0);
    }
    await stopOverDbus(bus, d);
    console.log('GetState round trip (1000 sequential calls)');
    console.log(`  dobbyd                                 ${fmtMs(summarise(times))}\n`);

    const many = await alternate(
      [
        {
          name: 'raw',
          run: async (round) => {
            const ids = options.rawBundles.map((_, i) => `bench-drawm-${round}-${i}`);
            const ms = await rawStartMany(options.crun, options.rawRoot, options.rawBundles, ids);
            await Promise.all(ids.map((id) => rawDelete(options.crun, options.rawRoot, id)));
            return ms;
          },
        },
        {
          name: 'dbus',
          run: async (round) => {
            const ids = options.ourBundles.map((_, i) => `bench-dbusm-${round}-${i}`);
            const t0 = performance.now();
            const ds = await Promise.all(ids.map((id, i) => startOverDbus(bus, id, options.ourBundles[i] as string)));
            const ms = performance.now() - t0;
            await Promise.all(ds.map((descriptor) => stopOverDbus(bus, descriptor)));
            return ms;
          },
        },
      ],
      Math.max(5, Math.round(options.rounds / 3)),
      1,
    );
    const rawMany = many.get('raw') ?? [];
    const oursMany = many.get('dbus') ?? [];
    console.log(`${options.ourBundles.length} concurrent D-Bus starts → all running`);
    console.log(`  raw crun ×${options.ourBundles.length}                          ${fmtMs(summarise(rawMany))}`);
    console.log(`  dobbyd over D-Bus                     ${fmtMs(summarise(oursMany))}`);
    console.log(`  ratio dobbyd/raw, per pair            ${fmtRatio(pairRatios(oursMany, rawMany))}\n`);
  } finally {
    bus.disconnect();
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
  }
}
