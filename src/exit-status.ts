// Exit statuses: the container's exit code or killing signal, and the raw wait status Dobby's signals carry.

import { constants } from 'node:os';

export interface ExitStatus {
  /** Exit code when the process exited normally, else null. */
  readonly exitCode: number | null;
  /** Signal number when the process was killed by a signal, else null. */
  readonly signal: number | null;
  /** True when the kernel OOM killer killed a process of the container. */
  readonly oomKilled: boolean;
  /** The raw waitpid() status word, as Dobby's StoppedWithStatus carries it. */
  readonly status: number;
}

const CORE_SIGNALS = new Set<number>([
  constants.signals.SIGABRT,
  constants.signals.SIGSEGV,
  constants.signals.SIGFPE,
  constants.signals.SIGILL,
  constants.signals.SIGBUS,
  constants.signals.SIGQUIT,
]);

const NSIG = 65;

/**
 * Interprets what the monitor recorded. conmon (like DobbyInit and tini) reports a death by
 * signal N as 128+N, so codes 129..128+NSIG-1 are read back as signals, as Dobby does.
 */
export function exitStatusFromCode(code: number, oomKilled: boolean): ExitStatus {
  if (code > 128 && code < 128 + NSIG) {
    const signal = code - 128;
    const core = CORE_SIGNALS.has(signal) ? 0x80 : 0;
    return { exitCode: null, signal, oomKilled, status: signal | core };
  }
  const exitCode = code & 0xff;
  return { exitCode, signal: null, oomKilled, status: exitCode << 8 };
}

export function describeExit(exit: ExitStatus): string {
  const how = exit.signal !== null ? `killed by signal ${exit.signal}` : `exited with code ${exit.exitCode}`;
  return exit.oomKilled ? `${how} (OOM-killed)` : how;
}
