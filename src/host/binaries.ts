// Finds the host binaries dobbyd runs (OCI runtime, conmon, dbus-daemon) and reports the missing ones.
import { accessSync, constants, statSync } from 'node:fs';
import { basename, delimiter, isAbsolute, join, resolve } from 'node:path';
import type { HostProblem } from './problem.ts';

/** True when `path` is a regular file this process may execute. */
export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface Lookup {
  /** The PATH to search (colon separated). */
  readonly pathEnv: string;
  readonly isExecutable?: (path: string) => boolean;
  readonly exists?: (path: string) => boolean;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Resolves a command name through PATH (plus the sbin dirs a root shell has); a name with a slash is taken as a path. */
export function findExecutable(name: string, lookup: Lookup): string | undefined {
  const isExec = lookup.isExecutable ?? isExecutableFile;
  if (name.includes('/')) {
    const path = isAbsolute(name) ? name : resolve(name);
    return isExec(path) ? path : undefined;
  }
  const dirs = [...lookup.pathEnv.split(delimiter), ...DEFAULT_PATH.split(delimiter)].filter((d) => d !== '');
  for (const dir of new Set(dirs)) {
    const candidate = join(dir, name);
    if (isExec(candidate)) return candidate;
  }
  return undefined;
}

function existsDefault(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export interface RuntimeResolution {
  /** Absolute path of the runtime, when found. */
  readonly path: string | undefined;
  /** `crun`, `runc` or the basename of the given path. */
  readonly name: string;
  readonly problem: HostProblem | undefined;
}

/** Resolves `--runtime crun|runc|PATH`; with none given, crun then runc. */
export function resolveRuntime(requested: string | undefined, lookup: Lookup): RuntimeResolution {
  if (requested === undefined || requested === '') {
    for (const name of ['crun', 'runc']) {
      const path = findExecutable(name, lookup);
      if (path !== undefined) return { path, name, problem: undefined };
    }
    return {
      path: undefined,
      name: 'crun',
      problem: {
        code: 'runtime-missing',
        what: 'no OCI runtime: neither crun nor runc is on the PATH',
        fix: 'apt-get install crun (or apt-get install runc, or give --runtime PATH)',
        fatal: true,
      },
    };
  }
  const name = basename(requested);
  const path = findExecutable(requested, lookup);
  if (path !== undefined) return { path, name, problem: undefined };
  if (!requested.includes('/')) {
    return {
      path: undefined,
      name,
      problem: {
        code: 'runtime-missing',
        what: `the OCI runtime ${requested} (from --runtime) is not on the PATH`,
        fix: name === 'crun' || name === 'runc'
          ? `apt-get install ${name}`
          : `give --runtime crun, --runtime runc or the path of an OCI runtime binary`,
        fatal: true,
      },
    };
  }
  const full = isAbsolute(requested) ? requested : resolve(requested);
  const exists = (lookup.exists ?? existsDefault)(full);
  return {
    path: undefined,
    name,
    problem: exists
      ? {
          code: 'runtime-not-executable',
          what: `the OCI runtime ${full} (from --runtime) is not an executable file`,
          fix: `chmod +x ${full} (or give --runtime crun|runc)`,
          fatal: true,
        }
      : {
          code: 'runtime-missing',
          what: `the OCI runtime ${full} (from --runtime) does not exist`,
          fix: 'give --runtime crun, --runtime runc or the path of an OCI runtime binary (apt-get install crun)',
          fatal: true,
        },
  };
}

/** conmon is the per-container monitor: without it no container can start. */
export function conmonProblem(requested: string | undefined, lookup: Lookup): HostProblem | undefined {
  const name = requested ?? 'conmon';
  if (findExecutable(name, lookup) !== undefined) return undefined;
  return {
    code: 'conmon-missing',
    what: requested === undefined
      ? 'conmon (the per-container monitor) is not on the PATH'
      : `conmon ${requested} is missing or not executable`,
    fix: 'apt-get install conmon',
    fatal: true,
  };
}

/** dbus-daemon is needed to run a private bus; with an existing bus it is only a warning. */
export function dbusDaemonProblem(privateBus: boolean, lookup: Lookup): HostProblem | undefined {
  if (findExecutable('dbus-daemon', lookup) !== undefined) return undefined;
  return {
    code: 'dbus-daemon-missing',
    what: privateBus
      ? 'dbus-daemon is not on the PATH: --private-bus cannot start a bus'
      : 'dbus-daemon is not on the PATH (needed for --private-bus and to run a system bus)',
    fix: 'apt-get install dbus',
    fatal: privateBus,
  };
}
