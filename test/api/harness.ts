// Test harness for the D-Bus API: a private bus per test file, a scriptable in-test manager, and busctl/dbus-send runners.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import type { LifecycleEvent } from '../../src/bus.ts';
import { startPrivateBus, type PrivateBus } from '../../src/drivers/dbus/bus-address.ts';
import { startDbusService, type DbusService, type DbusServiceOptions } from '../../src/api/dbus/service.ts';
import { run, type RunResult } from '../../src/drivers/process.ts';
import { createNsMounter } from '../../src/drivers/mount/ns-mount.ts';
import { readContainerStats } from '../../src/drivers/stats/reader.ts';
import { readContainerUsage } from '../../src/drivers/stats/usage.ts';
import { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import {
  WireState, type ContainerManager, type ContainerPhase, type ContainerSummary, type ExecRequest, type StartRequest,
} from '../../src/manager-types.ts';

export const TAG = randomBytes(3).toString('hex');

export interface TestBus {
  readonly address: string;
  readonly bus: PrivateBus;
  /** A scratch dir for the test file (the bus lives in its dbus/ subdir). */
  readonly dir: string;
  /** Ends what was started here (services first, then the bus, by pid) and removes the dir. */
  stop(): Promise<void>;
}

/**
 * A private dbus-daemon for a test file. Call `stop` from a suite-level `after` (a hook
 * registered inside `before` would run as soon as `before` ends).
 */
export async function testBus(): Promise<TestBus> {
  const dir = mkdtempSync(join(tmpdir(), `dobby-api-${TAG}-`));
  const bus = await startPrivateBus(join(dir, 'dbus'));
  return {
    address: bus.address, bus, dir,
    stop: async () => {
      for (const service of services.get(bus.address)?.splice(0) ?? []) await service.close();
      await bus.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Services started on each test bus, closed before that bus ends. */
const services = new Map<string, DbusService[]>();

/** The host services over this host's real drivers, as daemon.ts wires them. */
export function hostServices(): Pick<DbusServiceOptions, 'mounter' | 'readStats' | 'readUsage'> {
  return { mounter: createNsMounter(), readStats: (pid) => readContainerStats(pid), readUsage: (pid) => readContainerUsage(pid) };
}

/** Serves a manager on the bus; closed by the bus's `stop`. */
export async function serve(options: Partial<DbusServiceOptions> & Pick<DbusServiceOptions, 'manager' | 'address'>): Promise<DbusService> {
  const { mounter, readStats, readUsage, ...rest } = options;
  const host = hostServices();
  const service = await startDbusService({
    // SetLogLevel's default would raise the silent test logger's level and make tests noisy.
    logger: silentLogger(), onShutdown: () => {}, onSetLogLevel: () => true,
    mounter: mounter ?? host.mounter, readStats: readStats ?? host.readStats, readUsage: readUsage ?? host.readUsage,
    ...rest,
  });
  services.set(options.address, [...(services.get(options.address) ?? []), service]);
  return service;
}

/** busctl with `--` before its arguments, so values like `--tty` stay values. */
export function busctl(address: string, args: readonly string[], timeoutMs = 15_000): Promise<RunResult> {
  return run('busctl', [`--address=${address}`, '--', ...args], { timeoutMs });
}

const PY_START_WITH_FD = `
import sys, dbus
address, cid, bundle, path = sys.argv[1:5]
bus = dbus.bus.BusConnection(address)
obj = bus.get_object('org.rdk.dobby', '/org/rdk/dobby', introspect=False)
with open(path, 'rb') as f:
    cd = obj.StartFromBundle(cid, bundle, dbus.Array([dbus.types.UnixFd(f.fileno())], signature='h'), '', '',
                             dbus.Array([], signature='s'), dbus.UInt32(0), dbus.UInt32(0),
                             dbus_interface='org.rdk.dobby.ctrl1', timeout=60)
print(int(cd))
`;

/**
 * StartFromBundle with one fd (the file at `path`, opened read-only) from a client this
 * project did not write: python3-dbus (what Dobby's own measurements used) when the host has
 * it, else dbus-next. busctl and dbus-send cannot send unix fds.
 */
export async function startWithFd(address: string, id: string, bundle: string, path: string): Promise<number> {
  const py = await run('/usr/bin/python3', ['-c', 'import dbus'], { timeoutMs: 10_000 }).catch(() => null);
  if (py?.code === 0) {
    const r = await run('/usr/bin/python3', ['-c', PY_START_WITH_FD, address, id, bundle, path], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`python3-dbus StartFromBundle failed: ${r.stderr}`);
    return Number(r.stdout.trim());
  }
  const { default: dbus } = await import('dbus-next');
  const { openSync, closeSync } = await import('node:fs');
  // dbus-next's typings lack negotiateUnixFd on sessionBus options; it is read at run time.
  const bus = dbus.sessionBus({ busAddress: address, negotiateUnixFd: true } as unknown as Parameters<typeof dbus.sessionBus>[0]);
  const fd = openSync(path, 'r');
  try {
    const reply = await bus.call(new dbus.Message({
      destination: 'org.rdk.dobby', path: '/org/rdk/dobby', interface: 'org.rdk.dobby.ctrl1', member: 'StartFromBundle',
      signature: 'ssahssasuu', body: [id, bundle, [fd], '', '', [], 0, 0],
    }));
    return Number(reply?.body[0]);
  } finally {
    closeSync(fd);
    bus.disconnect();
  }
}

const ROOT = join(import.meta.dirname, '..', '..');

/** The `dobby` CLI through its launcher, talking to `address`. */
export function dobby(address: string, args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  return run(join(ROOT, 'bin', 'dobby'), ['--dbus-address', address, ...args], { timeoutMs });
}

export function dbusSend(address: string, args: readonly string[], timeoutMs = 15_000): Promise<RunResult> {
  return run('dbus-send', [`--bus=${address}`, '--print-reply', '--type=method_call', '--dest=org.rdk.dobby', '/org/rdk/dobby', ...args], { timeoutMs });
}

/** `busctl call` on the Dobby object; stdout trimmed (e.g. `i 734`, `b true`). */
export async function call(address: string, iface: string, member: string, signature = '', ...args: string[]): Promise<string> {
  const result = await busctl(address, ['call', 'org.rdk.dobby', '/org/rdk/dobby', `org.rdk.dobby.${iface}`, member, ...(signature === '' ? [] : [signature, ...args])]);
  if (result.code !== 0) throw new Error(`busctl call ${member} failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout.trim();
}

interface FakeContainer {
  descriptor: number;
  id: string;
  bundle: string;
  phase: ContainerPhase;
  pid: number | null;
  annotations: Map<string, string>;
}

/**
 * A scriptable ContainerManager for testing the D-Bus layer alone: starts succeed unless the
 * bundle path contains "fail"; the test decides when containers exit.
 */
export class FakeManager implements ContainerManager {
  readonly #events = new Subject<LifecycleEvent>();
  readonly containers = new Map<number, FakeContainer>();
  readonly startRequests: StartRequest[] = [];
  readonly execRequests: ExecRequest[] = [];
  #next = 734;
  /** Delays the start reply by this long (concurrency tests). */
  startDelayMs = 0;
  /** Exit status given to a container that a stop kills (15 graceful, 9 forced). */
  exitOnStop = true;

  get events$() {
    return this.#events.asObservable();
  }

  #publish(c: FakeContainer, event: Record<string, unknown> & { type: LifecycleEvent['type'] }): void {
    this.#events.next({ id: c.id, descriptor: c.descriptor, at: Date.now(), ...event } as LifecycleEvent);
  }

  async start(request: StartRequest): Promise<number> {
    this.startRequests.push(request);
    if ([...this.containers.values()].some((c) => c.id === request.id)) throw new DobbyError('DUPLICATE_ID', `'${request.id}' is in use`);
    const c: FakeContainer = { descriptor: this.#next++, id: request.id, bundle: request.bundle, phase: 'creating', pid: null, annotations: new Map() };
    this.containers.set(c.descriptor, c);
    this.#publish(c, { type: 'created' });
    if (this.startDelayMs > 0) await new Promise((r) => setTimeout(r, this.startDelayMs));
    if (request.bundle.includes('fail')) {
      this.#publish(c, { type: 'start-failed', code: 'RUNTIME_FAILED', message: 'told to fail' });
      this.containers.delete(c.descriptor);
      this.#publish(c, { type: 'deleted' });
      throw new DobbyError('RUNTIME_FAILED', 'told to fail');
    }
    c.phase = 'running';
    this.#publish(c, { type: 'started' });
    return c.descriptor;
  }

  /** Ends a container as if its init exited with `status` (raw wait status). */
  exit(descriptor: number, exit: { exitCode: number | null; signal: number | null; status: number; oomKilled?: boolean }): void {
    const c = this.containers.get(descriptor);
    if (c === undefined) throw new Error(`no container ${descriptor}`);
    this.#publish(c, { type: 'exited', oomKilled: false, ...exit });
    this.containers.delete(descriptor);
    this.#publish(c, { type: 'deleted' });
  }

  #need(descriptor: number): FakeContainer {
    const c = this.containers.get(descriptor);
    if (c === undefined) throw new DobbyError('UNKNOWN_CONTAINER', `no container ${descriptor}`);
    return c;
  }

  async stop(descriptor: number, force: boolean): Promise<void> {
    const c = this.#need(descriptor);
    if (c.phase === 'paused' && !force) throw new DobbyError('ILLEGAL_STATE', 'paused');
    c.phase = 'stopping';
    if (this.exitOnStop) setTimeout(() => this.exit(descriptor, { exitCode: null, signal: force ? 9 : 15, status: force ? 9 : 15 }), 5);
  }

  async pause(descriptor: number): Promise<void> {
    const c = this.#need(descriptor);
    if (c.phase !== 'running') throw new DobbyError('ILLEGAL_STATE', c.phase);
    c.phase = 'paused';
    this.#publish(c, { type: 'paused' });
  }

  async resume(descriptor: number): Promise<void> {
    const c = this.#need(descriptor);
    if (c.phase !== 'paused') throw new DobbyError('ILLEGAL_STATE', c.phase);
    c.phase = 'running';
    this.#publish(c, { type: 'resumed' });
  }

  async exec(descriptor: number, request: ExecRequest): Promise<number> {
    const c = this.#need(descriptor);
    if (c.phase !== 'running') throw new DobbyError('ILLEGAL_STATE', c.phase);
    this.execRequests.push(request);
    return 4242;
  }

  get(descriptor: number): ContainerSummary | undefined {
    const c = this.containers.get(descriptor);
    if (c === undefined) return undefined;
    const wireState = c.phase === 'running' ? WireState.RUNNING : c.phase === 'paused' ? WireState.PAUSED : c.phase === 'stopping' ? WireState.STOPPING : WireState.STARTING;
    return { descriptor: c.descriptor, id: c.id, phase: c.phase, wireState, pid: c.pid, bundle: c.bundle };
  }

  findById(id: string): ContainerSummary | undefined {
    return this.list().find((c) => c.id === id);
  }

  list(): ContainerSummary[] {
    return [...this.containers.keys()].map((d) => this.get(d)!).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  annotate(descriptor: number, key: string, value: string): boolean {
    const c = this.containers.get(descriptor);
    c?.annotations.set(key, value);
    return c !== undefined;
  }

  removeAnnotation(descriptor: number, key: string): boolean {
    return this.containers.get(descriptor)?.annotations.delete(key) ?? false;
  }

  annotations(descriptor: number): ReadonlyMap<string, string> | undefined {
    return this.containers.get(descriptor)?.annotations;
  }

  async shutdown(): Promise<void> {
    for (const d of [...this.containers.keys()]) this.exit(d, { exitCode: null, signal: 15, status: 15 });
  }
}
