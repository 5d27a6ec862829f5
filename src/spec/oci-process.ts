// The OCI `process` section for a spec container: init + args, user, env, capabilities, rlimits.

import type { DobbySpec } from './types.ts';
import type { OciProcess, OciRlimit } from './oci-types.ts';
import type { SpecToOciOptions } from './options.ts';
import { INIT_PATH_IN_CONTAINER } from './options.ts';

export const CONTAINER_HOME = '/home/private';
export const CONTAINER_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * tini reads options anywhere in its arguments (GNU getopt permutes them), so `sh -c ...` would give it `-c`;
 * `--` ends its options. Dobby's own DobbyInit takes none: give `initArgs: []` for it.
 */
export const DEFAULT_INIT_ARGS: readonly string[] = ['--'];

/** Spec env, then enabled gpu/vpu env, then settings env, then HOME and PATH (Dobby's order; gpu env only when enabled). */
export function buildEnv(spec: DobbySpec, options: SpecToOciOptions): string[] {
  return [
    ...spec.env,
    ...(spec.gpu?.enable === true ? options.gpu?.extraEnv ?? [] : []),
    ...(spec.vpu?.enable === true ? options.vpu?.extraEnv ?? [] : []),
    ...(options.extraEnv ?? []),
    `HOME=${CONTAINER_HOME}`,
    `PATH=${CONTAINER_PATH}`,
  ];
}

/**
 * NOFILE 1024 and NPROC 300 as Dobby's template; RTPRIO 0 unless the spec asks for real-time priority (then the
 * rtscheduling plugin owns it). None above the host's hard limit: raising one needs CAP_SYS_RESOURCE.
 */
export function buildRlimits(spec: DobbySpec, options: SpecToOciOptions): OciRlimit[] {
  const wanted: [string, number][] = [['RLIMIT_NOFILE', 1024], ['RLIMIT_NPROC', 300]];
  if (spec.rtPriority === null) wanted.push(['RLIMIT_RTPRIO', 0]);
  return wanted.map(([type, value]) => {
    const hard = options.hardLimits?.[type];
    const v = hard === undefined ? value : Math.min(value, hard);
    return { type, soft: v, hard: v };
  });
}

export function buildProcess(
  spec: DobbySpec, options: SpecToOciOptions, capabilities: readonly string[], additionalGids: readonly number[],
): OciProcess {
  const caps = [...capabilities];
  const process: OciProcess = {
    terminal: false,
    // With a user namespace the app is root inside it, mapped to the spec's user outside.
    user: spec.userNs
      ? { uid: 0, gid: 0, additionalGids: [...additionalGids] }
      : { uid: spec.user.uid, gid: spec.user.gid, additionalGids: [...additionalGids] },
    args: [INIT_PATH_IN_CONTAINER, ...(options.initArgs ?? DEFAULT_INIT_ARGS), ...spec.args],
    env: buildEnv(spec, options),
    cwd: spec.cwd,
    // Every set, so a non-root app (no user namespace) keeps them across exec through the ambient set.
    capabilities: { bounding: [...caps], effective: [...caps], inheritable: [...caps], permitted: [...caps], ambient: [...caps] },
    rlimits: buildRlimits(spec, options),
    // Dobby lets apps that were given capabilities gain file capabilities (e.g. ping with CAP_NET_RAW).
    noNewPrivileges: spec.capabilities === null || spec.capabilities.add.length === 0,
  };
  if (options.apparmorProfile !== undefined) process.apparmorProfile = options.apparmorProfile;
  return process;
}
