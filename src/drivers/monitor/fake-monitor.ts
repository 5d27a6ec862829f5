// The fake monitor: Monitor over a FakeHost (see fake-host.ts), plus a helper making the pair.

import type { Observable } from 'rxjs';
import { FakeHost, type FakeHostOptions } from '../runtime/fake-host.ts';
import { FakeRuntime } from '../runtime/fake-runtime.ts';
import type { CreateOptions, CreatedContainer, Monitor, MonitorExit } from './types.ts';

export class FakeMonitor implements Monitor {
  readonly host: FakeHost;
  readonly exits$: Observable<MonitorExit>;

  constructor(host: FakeHost) {
    this.host = host;
    this.exits$ = host.exitsSubject.asObservable();
  }

  async create(options: CreateOptions): Promise<CreatedContainer> {
    await options.ready;
    options.launched?.();
    return this.host.create(options);
  }

  readExit(id: string): Promise<MonitorExit | null> {
    return this.host.readExit(id);
  }

  monitorPid(id: string): Promise<number | null> {
    return this.host.monitorPid(id);
  }

  /** Like ConmonMonitor.oomKillCount: what the container's cgroup counted. */
  oomKillCount(id: string): Promise<number | null> {
    return Promise.resolve(this.host.oomKillCount(id));
  }

  release(id: string): Promise<void> {
    return this.host.release(id);
  }

  close(): void {
    this.host.exitsSubject.complete();
  }
}

export interface Fakes {
  readonly host: FakeHost;
  readonly runtime: FakeRuntime;
  readonly monitor: FakeMonitor;
}

/** A fake runtime and monitor sharing one in-memory host. */
export function createFakes(options: FakeHostOptions = {}): Fakes {
  const host = new FakeHost(options);
  return { host, runtime: new FakeRuntime(host), monitor: new FakeMonitor(host) };
}
