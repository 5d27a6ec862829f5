// Sends a catchable signal to a container's init and, if the init dropped it for want of a
// handler, once more when the handler appears: the kernel discards a signal that a pid-namespace
// init neither catches nor blocks (SIGKILL and SIGSTOP aside), so a stop that comes right after a
// start (the runtime's init before its execve, or an init that sets its handler late) was lost.

import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DriverLogger } from '../process.ts';

/** What /proc says about a process's signal handling. */
export interface InitSignalState {
  /** Clock ticks since boot at which it started: tells a recycled pid apart. */
  readonly startTime: string;
  readonly parentPid: number;
  readonly name: string;
  readonly blocked: bigint;
  readonly ignored: bigint;
  readonly caught: bigint;
  /**
   * Asleep in sigwait/sigtimedwait, as tini and dumb-init are: the kernel then shows the signals
   * waited for as unblocked, though it keeps them for the waiter.
   */
  readonly waiting: boolean;
}

// crun's init is `crun`, runc's `runc:[2:INIT]` until they exec the container's process; runc's Go
// runtime catches every signal there, but what it does with one is not the container's handler.
const RUNTIME_INIT = /^(crun|runc:\[.*)$/;

const CATCHABLE = (signo: number): boolean => signo > 0 && signo < 65 && signo !== constants.signals.SIGKILL && signo !== constants.signals.SIGSTOP;

const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 50;

/**
 * The process's signal state, or null once it is gone. Synchronous: read right before and right
 * after the send, it leaves the init no time to set a handler unseen in between.
 */
export function readInitSignalState(pid: number): InitSignalState | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `do_sigtimedwait.isra.0` and the like; empty where the kernel hides symbol names.
    const wchan = readFileSync(`/proc/${pid}/wchan`, 'utf8');
    const field = (key: string): string => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
    const mask = (key: string): bigint => BigInt(`0x${field(key) || '0'}`);
    // The comm field may hold spaces and parentheses: the fields after it start past the last ')'.
    const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
    return {
      startTime,
      parentPid: Number(field('PPid')),
      name: field('Name'),
      blocked: mask('SigBlk'),
      ignored: mask('SigIgn'),
      caught: mask('SigCgt'),
      waiting: wchan.startsWith('do_sigtimedwait'),
    };
  } catch {
    return null;
  }
}

/** Whether the container's own init would take the signal now (it catches, blocks or waits for it). */
export function takesSignal(state: InitSignalState, signo: number): boolean {
  const bit = 1n << BigInt(signo - 1);
  if (RUNTIME_INIT.test(state.name)) return false;
  // A blocked signal is kept even when ignored: the mask may change before it is unblocked.
  if ((state.blocked & bit) !== 0n) return true;
  if ((state.ignored & bit) !== 0n) return false;
  return (state.caught & bit) !== 0n || state.waiting;
}

/**
 * Sends `signo` to `pid`, the container's init as the runtime just reported it. Returns false when
 * it did not (the signal cannot be caught, or the process is gone or not ours to signal): the
 * caller then asks the runtime, whose error says why. When the init took no notice of it (neither
 * right before nor right after the send did it catch or block the signal), a watch goes on in the
 * background until `watchMs` has passed or the init is gone, and sends the signal once more when
 * the init sets a handler for it. When it had one already, or got one while the signal was on its
 * way, nothing more is sent: a handler never hears the signal twice. With `parentPid`, nothing is
 * sent unless that is the process's parent (the container's monitor, which reaps the init: a pid
 * whose parent it still is has not been recycled).
 */
export function signalInit(pid: number, signo: number, watchMs: number, logger?: DriverLogger, parentPid?: number): boolean {
  if (!CATCHABLE(signo)) return false;
  const before = readInitSignalState(pid);
  if (before === null || (parentPid !== undefined && before.parentPid !== parentPid)) return false;
  try {
    process.kill(pid, signo);
  } catch {
    return false;
  }
  if (takesSignal(before, signo)) return true;
  const after = readInitSignalState(pid);
  if (after === null || after.startTime !== before.startTime || takesSignal(after, signo)) return true;
  void resendOnHandler(pid, signo, before.startTime, Date.now() + watchMs, logger);
  return true;
}

async function resendOnHandler(pid: number, signo: number, startTime: string, until: number, logger?: DriverLogger): Promise<void> {
  for (let wait = FIRST_POLL_MS; Date.now() < until; wait = Math.min(wait * 2, MAX_POLL_MS)) {
    // Unref'd: a watch must not hold a daemon that is exiting.
    await sleep(Math.min(wait, Math.max(0, until - Date.now())), undefined, { ref: false });
    const now = readInitSignalState(pid);
    if (now === null || now.startTime !== startTime) return;
    if (!takesSignal(now, signo)) continue;
    try {
      process.kill(pid, signo);
      logger?.debug({ pid, signal: signo }, 'the container init dropped the signal before it had a handler: sent again');
    } catch {
      // Gone between the read and the send: its exit is what the caller waits for.
    }
    return;
  }
}
