// A real dobbyd on a test bus of its own (which outlives it, so the daemon can be restarted or
// killed and come back), with dbus-monitor watching: for black-box tests of the built-in plugins.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DbusMonitor, dobbyTrace, type Seen } from '../api/dbus-monitor.ts';
import { call, dobby, testBus, type TestBus } from '../api/harness.ts';
import { startDobbyd, type DobbydProcess } from './dobbyd-process.ts';
import { cleanRuntime, type Scratch } from './scratch.ts';

export interface PluginDaemon {
  readonly address: () => string;
  readonly stateDir: string;
  readonly daemon: () => DobbydProcess;
  /** Ends the daemon (SIGTERM: it stops its containers; SIGKILL: they live on) and starts a new one on the same bus. */
  restart(how: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** The descriptor, or -1 when the start failed. */
  startBundle(id: string, bundle: string): Promise<number>;
  startSpec(id: string, spec: object): Promise<number>;
  /** Stops and waits for Dobby's Stopped signal. */
  stop(cd: number, id: string): Promise<void>;
  /** Waits for the events1 Event `event` of container `id`. */
  event(id: string, event: string, timeoutMs?: number): Promise<Seen>;
  /** Waits for Dobby's Stopped signal of `id` (a container that ends by itself). */
  stopped(id: string, timeoutMs?: number): Promise<void>;
  /** `dobby info <id>` parsed. */
  info(id: string): Promise<{ readonly plugins: readonly { readonly name: string; readonly hooks: readonly { readonly hook: string; readonly ok: boolean }[] }[] }>;
}

function descriptor(reply: string): number {
  const m = /^i (-?\d+)$/.exec(reply);
  assert.ok(m !== null, `a start replied ${reply}`);
  return Number(m[1]);
}

export function pluginDaemon(scratch: Scratch): PluginDaemon {
  const stateDir = join(scratch.dir, 'dobbyd');
  let bus: TestBus | undefined;
  let monitor: DbusMonitor | undefined;
  let daemon: DobbydProcess | undefined;
  const address = (): string => bus!.address;
  const start = async (): Promise<void> => {
    daemon = await startDobbyd(stateDir, ['--log-level', 'info'], { dbusAddress: address() });
  };
  const kill9 = async (): Promise<void> => {
    const child = daemon!.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  };

  before(async () => {
    bus = await testBus();
    monitor = await DbusMonitor.start(bus.address);
    await start();
  });
  after(async () => {
    await daemon?.stop(30_000);
    monitor?.stop();
    await cleanRuntime('crun', join(stateDir, 'runtime'), join(stateDir, 'monitor', 'pids'));
    await bus?.stop();
  });

  const eventOf = async (id: string, event: string, timeoutMs = 20_000): Promise<Seen> => {
    const match = (m: Seen): boolean => m.kind === 'signal' && m.interface === 'org.rdk.dobby.events1' && m.args[1] === id && m.args[2] === event;
    const seen = await monitor!.until((s) => s.some(match), timeoutMs);
    return seen.find(match)!;
  };

  return {
    address,
    stateDir,
    daemon: () => daemon!,
    async restart(how) {
      if (how === 'SIGKILL') await kill9();
      else await daemon!.stop(30_000);
      await start();
    },
    startBundle: async (id, bundle) => descriptor(await call(address(), 'ctrl1', 'StartFromBundle', 'ssah', id, bundle, '0')),
    startSpec: async (id, spec) => descriptor(await call(address(), 'ctrl1', 'StartFromSpec', 'ssah', id, JSON.stringify(spec), '0')),
    async stop(cd, id) {
      assert.equal(await call(address(), 'ctrl1', 'Stop', 'ib', String(cd), 'false'), 'b true');
      await monitor!.until((s) => dobbyTrace(s, id).includes('Stopped'), 30_000);
    },
    event: eventOf,
    async stopped(id, timeoutMs = 30_000) {
      await monitor!.until((s) => dobbyTrace(s, id).includes('Stopped'), timeoutMs);
    },
    async info(id) {
      const r = await dobby(address(), ['info', id]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Awaited<ReturnType<PluginDaemon['info']>>;
    },
  };
}

/** Waits for the report a container writes (ended by a line `.`) and returns it without that line. */
export async function report(path: string, timeoutMs = 20_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(path, 'utf8').catch(() => '');
    if (text === '.\n') return '';
    if (text.endsWith('\n.\n')) return text.slice(0, -3);
    if (Date.now() > end) throw new Error(`the container wrote no complete ${path} within ${timeoutMs} ms`);
    await sleep(50);
  }
}
