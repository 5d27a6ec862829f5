// A fault-injecting wrapper around any OCI runtime (real or fake): the chosen call fails as the tool
// would (a RUNTIME_FAILED error) and does nothing, for the leak tests.

import { DobbyError } from '../../errors.ts';
import type { DeleteOptions, ExecOptions, ExecResult, KillOptions, OciRuntime, OciState } from './types.ts';

export type RuntimeVerb = 'start' | 'kill' | 'pause' | 'resume' | 'exec' | 'state' | 'list' | 'delete';

/** Says, per call, whether it fails; asked before the call is made. */
export type FaultPlan = (verb: RuntimeVerb | 'create', id: string | undefined) => boolean;

export function injected(verb: string, id: string | undefined, code: 'RUNTIME_FAILED' | 'MONITOR_FAILED'): DobbyError {
  return new DobbyError(code, `injected fault: ${verb}${id === undefined ? '' : ` ${id}`} failed`, {
    verb, ...(id === undefined ? {} : { containerId: id }), exitStatus: 1, stderr: 'injected fault',
  });
}

export class FaultyRuntime implements OciRuntime {
  readonly #inner: OciRuntime;
  readonly #fails: FaultPlan;

  constructor(inner: OciRuntime, fails: FaultPlan) {
    this.#inner = inner;
    this.#fails = fails;
  }

  get binary(): string {
    return this.#inner.binary;
  }

  get root(): string {
    return this.#inner.root;
  }

  get flavour(): 'crun' | 'runc' {
    return this.#inner.flavour;
  }

  #guard<T>(verb: RuntimeVerb, id: string | undefined, call: () => Promise<T>): Promise<T> {
    return this.#fails(verb, id) ? Promise.reject(injected(verb, id, 'RUNTIME_FAILED')) : call();
  }

  start(id: string): Promise<void> {
    return this.#guard('start', id, () => this.#inner.start(id));
  }

  kill(id: string, signal: string | number, options?: KillOptions): Promise<void> {
    return this.#guard('kill', id, () => this.#inner.kill(id, signal, options));
  }

  pause(id: string): Promise<void> {
    return this.#guard('pause', id, () => this.#inner.pause(id));
  }

  resume(id: string): Promise<void> {
    return this.#guard('resume', id, () => this.#inner.resume(id));
  }

  exec(id: string, options: ExecOptions): Promise<ExecResult> {
    return this.#guard('exec', id, () => this.#inner.exec(id, options));
  }

  state(id: string): Promise<OciState | null> {
    return this.#guard('state', id, () => this.#inner.state(id));
  }

  list(): Promise<OciState[]> {
    return this.#guard('list', undefined, () => this.#inner.list());
  }

  delete(id: string, options?: DeleteOptions): Promise<void> {
    return this.#guard('delete', id, () => this.#inner.delete(id, options));
  }
}
