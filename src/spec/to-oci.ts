// specToOci: a validated Dobby spec + host options → the OCI config, the rootfs to create and the plugin entries.
//
// Fixes to Dobby's template, on purpose: every listed capability is granted (Dobby kept only the last); gpu/vpu
// env vars only when enabled; cwd defaults to / (Dobby wrote ""); nat/private networks get their network namespace
// here rather than from the networking plugin, so a missing plugin never leaves a container on the host network.
// Kept from Dobby and warned about: `network: null` means host networking. Our extensions (resources,
// readonlyRootfs, hostNamespaces, noNewPrivileges) are described in docs/spec-extensions.md.

import type { DobbySpec } from './types.ts';
import type { OciConfig } from './oci-types.ts';
import type { SpecToOciOptions } from './options.ts';
import type { RootfsPlan } from './rootfs-plan.ts';
import type { PluginSet } from './rdk-plugins.ts';
import { Issues, type Result } from './result.ts';
import { computeCapabilities } from './capabilities.ts';
import { buildMounts, mountWarnings } from './oci-mounts.ts';
import { buildLinux, extraGids } from './oci-linux.ts';
import { buildProcess } from './oci-process.ts';
import { buildRootfsPlan } from './rootfs-plan.ts';
import { buildPlugins } from './rdk-plugins.ts';
import { idProblem } from '../container-id.ts';
import { DEFAULT_RT_PRIORITY } from '../plugins/rtscheduling/data.ts';

export const OCI_VERSION = '1.0.2';

export interface OciConversion {
  readonly config: OciConfig;
  readonly rootfs: RootfsPlan;
  readonly plugins: PluginSet;
}

/**
 * Whether the container gets its own network namespace (absent, nat, private) or the host's (open, null, or
 * "network" in hostNamespaces).
 */
export function hasOwnNetwork(spec: DobbySpec): boolean {
  if (spec.hostNamespaces.includes('network')) return false;
  return spec.network === 'absent' || spec.network === 'nat' || spec.network === 'private';
}

function hostWarnings(spec: DobbySpec, options: SpecToOciOptions, issues: Issues): void {
  if (spec.network === 'host') {
    issues.warn('network: null gives the container the host\'s network (Dobby does the same); ' +
      'use "private" for no network, or leave the field out for loopback only');
  }
  for (const hw of ['gpu', 'vpu'] as const) {
    if (spec[hw]?.enable === true && (options[hw] === undefined || options[hw].devNodes.length === 0)) {
      issues.warn(`${hw}.enable: this host has no ${hw.toUpperCase()} device nodes configured; the container runs without ${hw.toUpperCase()} access`);
    }
  }
  if (spec.syslog && options.hasDevLog === false) {
    issues.warn('syslog: this host has no /dev/log (no syslog daemon listening); the container runs without it');
  }
  const rtHard = options.hardLimits?.['RLIMIT_RTPRIO'];
  const rtLimit = spec.rtPriority === null ? 0 : spec.rtPriority.limit === 0 ? DEFAULT_RT_PRIORITY : spec.rtPriority.limit;
  if (rtHard !== undefined && rtLimit > rtHard) {
    issues.warn(`rtPriority: limit ${rtLimit} is above this host's RLIMIT_RTPRIO hard limit (${rtHard}); ` +
      'the rtscheduling plugin will not be able to grant it');
  }
  if (options.initTargetExists === false) {
    issues.warn('/usr/libexec/DobbyInit does not exist on the host; crun will create an empty file there to mount the init on ' +
      '(create it once, e.g. `touch /usr/libexec/DobbyInit`)');
  }
  for (const w of mountWarnings(spec, options.hasLib64 === true)) issues.warn(w);
}

export function specToOci(spec: DobbySpec, options: SpecToOciOptions): Result<OciConversion> {
  const issues = new Issues();
  // Callers check the id before making paths from it; the hostname comes from it here, so check again.
  const badId = idProblem(options.id);
  if (badId !== null) issues.error('INVALID_VALUE', '', badId);
  const netns = hasOwnNetwork(spec);
  const capabilities = computeCapabilities(spec.capabilities, issues, options.lastCap);
  const linux = buildLinux(spec, options, netns, issues);
  const additionalGids = spec.userNs
    ? (linux.gidMappings ?? []).slice(1).map((m) => m.containerID)
    : extraGids(spec, options);
  const config: OciConfig = {
    ociVersion: OCI_VERSION,
    process: buildProcess(spec, options, capabilities, additionalGids, issues),
    root: { path: options.rootfsPath, readonly: spec.readonlyRootfs },
    // In the host's UTS namespace the host's name stays (crun refuses a hostname there).
    ...(spec.hostNamespaces.includes('uts') ? {} : { hostname: options.id }),
    mounts: buildMounts(spec, options, netns),
    linux,
  };
  const rootfs = buildRootfsPlan(spec, options, netns, issues);
  hostWarnings(spec, options, issues);
  return issues.result({ config, rootfs, plugins: buildPlugins(spec, options) });
}
