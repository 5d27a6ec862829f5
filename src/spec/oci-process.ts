// The OCI `process` section for a spec container: init + args, user, env, capabilities, rlimits, oom_score_adj.

import type { DobbySpec } from './types.ts';
import type { OciProcess, OciRlimit } from './oci-types.ts';
import type { SpecToOciOptions } from './options.ts';
import type { Issues } from './result.ts';
import { INIT_PATH_IN_CONTAINER } from './options.ts';
import { childPath } from './json-read.ts';

export const CONTAINER_HOME = '/home/private';
export const CONTAINER_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * tini reads options anywhere in its arguments (GNU getopt permutes them), so `sh -c ...` would give it `-c`;
 * `--` ends its options. Dobby's own DobbyInit takes none: give `initArgs: []` for it.
 */
export const DEFAULT_INIT_ARGS: readonly string[] = ['--'];

/** In the host's pid namespace tini is not pid 1: `-s` makes it a child subreaper, so it still reaps the app's orphans. */
export const HOST_PID_INIT_ARGS: readonly string[] = ['-s', '--'];

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
 * rtscheduling plugin owns it). None above the host's hard limit: raising one needs CAP_SYS_RESOURCE. The spec's
 * `resources.rlimits` replace these by type and add others; one above the hard limit is an error when the daemon
 * lacks CAP_SYS_RESOURCE (crun would fail the start with EPERM).
 */
export function buildRlimits(spec: DobbySpec, options: SpecToOciOptions, issues: Issues): OciRlimit[] {
  const wanted: [string, number][] = [['RLIMIT_NOFILE', 1024], ['RLIMIT_NPROC', 300]];
  if (spec.rtPriority === null) wanted.push(['RLIMIT_RTPRIO', 0]);
  const out: OciRlimit[] = wanted.map(([type, value]) => {
    const hard = options.hardLimits?.[type];
    const v = hard === undefined ? value : Math.min(value, hard);
    return { type, soft: v, hard: v };
  });
  for (const limit of spec.resources.rlimits) {
    const hostHard = options.hardLimits?.[limit.type];
    if (hostHard !== undefined && limit.hard > hostHard && options.capSysResource === false) {
      issues.error('HOST', childPath('resources.rlimits', limit.name),
        `hard limit ${limit.hard} is above this host's hard ${limit.type} (${hostHard}), and dobbyd lacks CAP_SYS_RESOURCE to raise it; ` +
        `give at most ${hostHard}`);
    }
    const entry = { type: limit.type, soft: limit.soft, hard: limit.hard };
    const at = out.findIndex((r) => r.type === limit.type);
    if (at >= 0) out[at] = entry;
    else out.push(entry);
  }
  return out;
}

function oomScoreAdj(spec: DobbySpec, options: SpecToOciOptions, issues: Issues): number | undefined {
  const wanted = spec.resources.oomScoreAdj;
  if (wanted === null) return undefined;
  const own = options.oomScoreAdj ?? 0;
  if (wanted < own && options.capSysResource === false) {
    issues.error('HOST', 'resources.oomScoreAdj',
      `${wanted} is below dobbyd's own oom_score_adj (${own}), and lowering it needs CAP_SYS_RESOURCE, which dobbyd lacks; ` +
      `give ${own}..1000`);
  }
  return wanted;
}

export function buildProcess(
  spec: DobbySpec, options: SpecToOciOptions, capabilities: readonly string[], additionalGids: readonly number[], issues: Issues,
): OciProcess {
  const initArgs = options.initArgs ?? (spec.hostNamespaces.includes('pid') ? HOST_PID_INIT_ARGS : DEFAULT_INIT_ARGS);
  const caps = [...capabilities];
  const process: OciProcess = {
    terminal: false,
    // With a user namespace the app is root inside it, mapped to the spec's user outside.
    user: spec.userNs
      ? { uid: 0, gid: 0, additionalGids: [...additionalGids] }
      : { uid: spec.user.uid, gid: spec.user.gid, additionalGids: [...additionalGids] },
    args: [INIT_PATH_IN_CONTAINER, ...initArgs, ...spec.args],
    env: buildEnv(spec, options),
    cwd: spec.cwd,
    // Every set, so a non-root app (no user namespace) keeps them across exec through the ambient set.
    capabilities: { bounding: [...caps], effective: [...caps], inheritable: [...caps], permitted: [...caps], ambient: [...caps] },
    rlimits: buildRlimits(spec, options, issues),
    // Dobby lets apps that were given capabilities gain file capabilities (e.g. ping with CAP_NET_RAW); the
    // noNewPrivileges extension overrides that either way.
    noNewPrivileges: spec.noNewPrivileges ?? (spec.capabilities === null || spec.capabilities.add.length === 0),
  };
  const adj = oomScoreAdj(spec, options, issues);
  if (adj !== undefined) process.oomScoreAdj = adj;
  if (options.apparmorProfile !== undefined) process.apparmorProfile = options.apparmorProfile;
  return process;
}
