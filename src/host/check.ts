// checkHost(): everything this host lacks for dobbyd, each with its exact fix (used by `dobbyd doctor` and at start-up).
import { sortProblems, type HostProblem } from './problem.ts';
import { resolveRuntime, conmonProblem, dbusDaemonProblem, type Lookup } from './binaries.ts';
import { checkCgroups, type CgroupPaths } from './cgroup-check.ts';
import { busAddressFor, busProblem } from './dbus-check.ts';
import { brNetfilterProblem, ebtablesProblem } from './network-check.ts';
import { cloexecProblem, spawnProblem, usocketProblem } from './usocket-check.ts';
import { installProblems } from './install-check.ts';
import { installLayout, type InstallLayout } from '../install-layout.ts';

export type { HostProblem } from './problem.ts';
export { formatProblems, hasFatal, sortProblems } from './problem.ts';

export interface HostCheckOptions {
  /** `crun`, `runc` or a path (dobbyd's --runtime); default: crun, else runc. */
  readonly runtime?: string | null | undefined;
  /** conmon to use; default `conmon` on the PATH. */
  readonly conmon?: string | null | undefined;
  /** dobbyd's --dbus-address. */
  readonly dbusAddress?: string | null | undefined;
  /** dobbyd's --private-bus: the daemon starts its own bus, so no bus needs to be reachable. */
  readonly privateBus?: boolean | undefined;
  /** Environment for PATH and DBUS_SYSTEM_BUS_ADDRESS; default process.env. */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Effective uid; default process.getuid(). */
  readonly uid?: number | undefined;
  /** Where to read /proc/self/mountinfo and /proc/cgroups (tests). */
  readonly cgroupPaths?: CgroupPaths | undefined;
  /** Skip the usocket load check (tests). */
  readonly skipUsocket?: boolean | undefined;
  /** Where to read /proc/sys (tests). */
  readonly procSys?: string | undefined;
  /** Milliseconds to wait for the bus to accept a connection. */
  readonly busTimeoutMs?: number | undefined;
  /** The install to check (its init, its D-Bus policy); default: the one this code runs from. */
  readonly layout?: InstallLayout | undefined;
}

/** Checks the host; an empty list means dobbyd can start. Problems come sorted, fatal first. */
export async function checkHost(options: HostCheckOptions = {}): Promise<HostProblem[]> {
  const env = options.env ?? process.env;
  const lookup: Lookup = { pathEnv: env['PATH'] ?? '' };
  const problems: HostProblem[] = [];
  const add = (p: HostProblem | undefined): void => {
    if (p !== undefined) problems.push(p);
  };

  const uid = options.uid ?? process.getuid?.() ?? 0;
  if (uid !== 0) {
    add({
      code: 'not-root',
      what: `dobbyd runs containers as root, and this process runs as uid ${uid}`,
      fix: 'run it as root (sudo bin/dobbyd ...)',
      fatal: true,
    });
  }
  const runtime = resolveRuntime(options.runtime ?? undefined, lookup);
  add(runtime.problem);
  add(conmonProblem(options.conmon ?? undefined, lookup));
  problems.push(...checkCgroups(runtime.name, options.cgroupPaths));

  const privateBus = options.privateBus === true;
  add(dbusDaemonProblem(privateBus, lookup));
  if (!privateBus) add(await busProblem(busAddressFor(options.dbusAddress, env), options.busTimeoutMs));
  const systemBus = !privateBus && (options.dbusAddress ?? null) === null;
  problems.push(...installProblems(options.layout ?? installLayout(), { systemBus }));
  if (options.skipUsocket !== true) {
    add(await usocketProblem());
    const cloexec = cloexecProblem();
    add(cloexec);
    add(spawnProblem(undefined, undefined, cloexec === undefined));
  }
  add(brNetfilterProblem(options.procSys));
  add(ebtablesProblem(lookup));

  return sortProblems(problems);
}
