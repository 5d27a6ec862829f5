// The OCI runtime interface (crun, runc): every verb dobbyd uses, with typed options and results.

export type OciStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface OciState {
  readonly id: string;
  readonly status: OciStatus;
  /** Host pid of the container's init; 0 once stopped. */
  readonly pid: number;
  readonly bundle: string;
}

export interface KillOptions {
  /** Send the signal to every process in the container, not only init. */
  readonly all?: boolean;
  /**
   * A catchable signal to init only: if the init dropped it for want of a handler (a pid-namespace
   * init does), send it once more when the handler appears within this many ms. Runtimes that
   * cannot see the init's signal state send it once, as without it.
   */
  readonly resendWithinMs?: number;
  /**
   * The init as the daemon knows it, with the monitor that is its parent: with `resendWithinMs`,
   * it is signalled directly while its parent is still that monitor (so never a recycled pid),
   * which spares a runtime `state` call per stop; otherwise the runtime is asked, as without it.
   */
  readonly init?: { readonly pid: number; readonly monitorPid: number };
}

export interface ExecOptions {
  readonly args: readonly string[];
  readonly env?: readonly string[];
  readonly cwd?: string;
  readonly user?: { readonly uid: number; readonly gid: number };
  readonly tty?: boolean;
  /** Return once the process is launched (its pid is written to pidFile). */
  readonly detach?: boolean;
  readonly pidFile?: string;
  /** Where the exec'd process's stdout and stderr go when detached (default: /dev/null). */
  readonly logPath?: string;
}

export interface ExecResult {
  /** Pid of the launched process when detached. */
  readonly pid: number | null;
  /** Exit code when not detached. */
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface DeleteOptions {
  readonly force?: boolean;
}

/**
 * One OCI runtime bound to its own state root. Errors are DobbyError with code RUNTIME_FAILED
 * (or RUNTIME_MISSING when the binary cannot be run), carrying verb, container id, exit status
 * and stderr. `create` is not here: containers are created through the monitor.
 */
export interface OciRuntime {
  /** Absolute path of the runtime binary. */
  readonly binary: string;
  /** The runtime's state root (`--root`). */
  readonly root: string;
  /** crun or runc: the command-line dialect spoken. */
  readonly flavour: 'crun' | 'runc';
  /** Where the link to the binary's sealed copy goes (see sealed-runtime.ts), when it has one. */
  readonly execDir?: string;
  start(id: string): Promise<void>;
  kill(id: string, signal: string | number, options?: KillOptions): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  exec(id: string, options: ExecOptions): Promise<ExecResult>;
  /** The container's state, or null when the runtime does not know the id. */
  state(id: string): Promise<OciState | null>;
  list(): Promise<OciState[]>;
  delete(id: string, options?: DeleteOptions): Promise<void>;
}
