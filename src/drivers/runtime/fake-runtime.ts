// The fake OCI runtime: OciRuntime over a FakeHost, for fast deterministic tests.

import type { FakeHost } from './fake-host.ts';
import type { DeleteOptions, ExecOptions, ExecResult, KillOptions, OciRuntime, OciState } from './types.ts';

export class FakeRuntime implements OciRuntime {
  readonly binary = '/usr/bin/crun';
  readonly flavour = 'crun' as const;
  readonly host: FakeHost;

  constructor(host: FakeHost) {
    this.host = host;
  }

  get root(): string {
    return this.host.root;
  }

  start(id: string): Promise<void> {
    return this.host.start(id);
  }

  kill(id: string, signal: string | number, options: KillOptions = {}): Promise<void> {
    return this.host.kill(id, signal, options.all === true);
  }

  pause(id: string): Promise<void> {
    return this.host.pause(id);
  }

  resume(id: string): Promise<void> {
    return this.host.resume(id);
  }

  exec(id: string, options: ExecOptions): Promise<ExecResult> {
    return this.host.exec(id, options);
  }

  state(id: string): Promise<OciState | null> {
    return this.host.state(id);
  }

  list(): Promise<OciState[]> {
    return this.host.list();
  }

  delete(id: string, options: DeleteOptions = {}): Promise<void> {
    return this.host.delete(id, options.force === true);
  }
}
