// A fault-injecting wrapper around any monitor (real or fake): create fails when told to, as conmon
// would (a MONITOR_FAILED error) and does nothing; everything else passes through.

import type { Observable } from 'rxjs';
import { injected, type FaultPlan } from '../runtime/faulty-runtime.ts';
import type { CreatedContainer, CreateOptions, Monitor, MonitorExit } from './types.ts';

/** A monitor whose create fails when the plan says so; everything else passes through. */
export class FaultyMonitor implements Monitor {
  readonly #inner: Monitor;
  readonly #fails: FaultPlan;

  constructor(inner: Monitor, fails: FaultPlan) {
    this.#inner = inner;
    this.#fails = fails;
  }

  get exits$(): Observable<MonitorExit> {
    return this.#inner.exits$;
  }

  create(options: CreateOptions): Promise<CreatedContainer> {
    if (this.#fails('create', options.id)) return Promise.reject(injected('create', options.id, 'MONITOR_FAILED'));
    return this.#inner.create(options);
  }

  readExit(id: string): Promise<MonitorExit | null> {
    return this.#inner.readExit(id);
  }

  monitorPid(id: string): Promise<number | null> {
    return this.#inner.monitorPid(id);
  }

  release(id: string): Promise<void> {
    return this.#inner.release(id);
  }

  close(): void {
    this.#inner.close();
  }
}
