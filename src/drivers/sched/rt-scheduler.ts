// Real-time scheduling on the host: how high this host lets a container's RLIMIT_RTPRIO go, the
// container's cgroup real-time budget (cgroup v1 cpu.rt_runtime_us), and SCHED_RR for a process (chrt).

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroupDir, cgroupPathsOfPid, readCgroupMounts, v1MountFor } from '../cgroup/index.ts';
import { hasEffectiveCap, parseProcLimits } from '../../spec/host-facts.ts';
import { DobbyError } from '../../errors.ts';
import { minimalEnv, run } from '../process.ts';

const CAP_SYS_RESOURCE = 24;

/** A container's real-time budget file and its value (microseconds per period). */
export interface RtBudget {
  readonly file: string;
  readonly runtimeUs: number;
}

export interface RtScheduler {
  /**
   * The highest RLIMIT_RTPRIO a container can be given: null when any (the daemon may raise hard
   * limits: CAP_SYS_RESOURCE), else the daemon's own hard limit, which crun cannot go above.
   */
  rtprioCeiling(): Promise<number | null>;
  /** The cgroup v1 cpu.rt_runtime_us of the process's cgroup; null where the host has none (no RT group scheduling, cgroup v2). */
  rtBudget(pid: number): Promise<RtBudget | null>;
  setRtBudget(budget: RtBudget, runtimeUs: number): Promise<void>;
  /** Puts the process under SCHED_RR at `priority`; throws a DobbyError saying why not. */
  setRoundRobin(pid: number, priority: number): Promise<void>;
}

async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

export class HostRtScheduler implements RtScheduler {
  readonly #chrt: string;

  constructor(options: { readonly chrt?: string } = {}) {
    this.#chrt = options.chrt ?? 'chrt';
  }

  async rtprioCeiling(): Promise<number | null> {
    if (hasEffectiveCap(await readText('/proc/self/status'), CAP_SYS_RESOURCE)) return null;
    // "unlimited" is left out of the parsed limits: no ceiling then either.
    return parseProcLimits(await readText('/proc/self/limits'))['RLIMIT_RTPRIO'] ?? null;
  }

  async rtBudget(pid: number): Promise<RtBudget | null> {
    const [paths, mounts] = await Promise.all([cgroupPathsOfPid(pid), readCgroupMounts()]);
    const mount = v1MountFor(mounts, 'cpu');
    const path = paths?.v1['cpu'];
    if (mount === null || path === undefined) return null;
    const dir = cgroupDir(mount, path);
    if (dir === null) return null;
    const file = join(dir, 'cpu.rt_runtime_us');
    const text = (await readText(file)).trim();
    return text === '' || !Number.isInteger(Number(text)) ? null : { file, runtimeUs: Number(text) };
  }

  async setRtBudget(budget: RtBudget, runtimeUs: number): Promise<void> {
    await writeFile(budget.file, `${runtimeUs}\n`);
  }

  async setRoundRobin(pid: number, priority: number): Promise<void> {
    const result = await run(this.#chrt, ['--rr', '--pid', String(priority), String(pid)], { env: minimalEnv(), timeoutMs: 3_000 })
      .catch((err: unknown) => {
        throw new DobbyError('HOST_UNSUITABLE', `cannot run ${this.#chrt} (util-linux) to set SCHED_RR: ${String(err)}`, { cause: err });
      });
    if (result.code !== 0) {
      throw new DobbyError('HOST_UNSUITABLE', `could not put pid ${pid} under SCHED_RR priority ${priority}: ${result.stderr.trim() || `chrt exited ${String(result.code ?? result.signal)}`}`, {
        exitStatus: result.code, stderr: result.stderr,
      });
    }
  }
}
