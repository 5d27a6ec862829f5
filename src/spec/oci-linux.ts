// The OCI `linux` section for a spec container: id mappings, device nodes and rules, resources, namespaces.

import type { DobbySpec, HostNamespace, SpecDevice } from './types.ts';
import type { OciConfig, OciDevice, OciDeviceRule, OciIdMapping } from './oci-types.ts';
import type { DevNode, DeviceAllowRange, SpecToOciOptions } from './options.ts';
import type { Issues } from './result.ts';
import { DEFAULT_DEVICE_WHITELIST } from './options.ts';
import { buildResources } from './oci-resources.ts';
import { seccompToOci } from './seccomp.ts';

export { cpuSharesFromPercent } from './oci-resources.ts';

/** Dobby maps ten gids from the user's gid, so container gid 5 (tty, for /dev/pts) exists. */
export const GID_MAP_SIZE = 10;

export function hardwareNodes(spec: DobbySpec, options: SpecToOciOptions): DevNode[] {
  return [
    ...(spec.gpu?.enable === true ? options.gpu?.devNodes ?? [] : []),
    ...(spec.vpu?.enable === true ? options.vpu?.devNodes ?? [] : []),
  ];
}

export function extraGids(spec: DobbySpec, options: SpecToOciOptions): number[] {
  const gids = [
    ...(spec.gpu?.enable === true ? options.gpu?.groupIds ?? [] : []),
    ...(spec.vpu?.enable === true ? options.vpu?.groupIds ?? [] : []),
  ];
  return [...new Set(gids)];
}

export function idMappings(spec: DobbySpec, gids: readonly number[], issues: Issues): { uid: OciIdMapping[]; gid: OciIdMapping[] } {
  const { uid, gid } = spec.user;
  const gidMap: OciIdMapping[] = [{ containerID: 0, hostID: gid, size: GID_MAP_SIZE }];
  for (const extra of gids) {
    // The kernel refuses overlapping ranges, on either side.
    if (extra < GID_MAP_SIZE || (extra >= gid && extra < gid + GID_MAP_SIZE)) {
      issues.warn(`gid ${extra} (from the gpu/vpu settings) overlaps the container's gids ${gid}..${gid + GID_MAP_SIZE - 1}; not mapped`);
      continue;
    }
    gidMap.push({ containerID: extra, hostID: extra, size: 1 });
  }
  return { uid: [{ containerID: 0, hostID: uid, size: 1 }], gid: gidMap };
}

function nodeToOci(node: DevNode): OciDevice {
  return { path: node.path, type: 'c', major: node.major, minor: node.minor, fileMode: node.mode & 0o777, uid: 0, gid: 0 };
}

function resolveMajor(major: string | number, options: SpecToOciOptions): number | undefined {
  if (typeof major === 'number') return major;
  const majors = options.driverMajors ?? {};
  return Object.hasOwn(majors, major) ? majors[major] : undefined;
}

function describeRange(r: DeviceAllowRange, options: SpecToOciOptions): string {
  const resolved = resolveMajor(r.major, options);
  const name = typeof r.major === 'string' ? `${r.major} (${resolved ?? 'not on this host'})` : `${r.major}`;
  return `${name} minors ${r.firstMinor}-${r.lastMinor}`;
}

/** The spec's devices as cgroup allow rules; names resolved through /proc/devices, each checked against the whitelist. */
export function deviceRules(devices: readonly SpecDevice[], options: SpecToOciOptions, issues: Issues): OciDeviceRule[] {
  const whitelist = options.deviceWhitelist ?? DEFAULT_DEVICE_WHITELIST;
  const rules: OciDeviceRule[] = [];
  devices.forEach((d, i) => {
    const major = resolveMajor(d.major, options);
    if (major === undefined) {
      issues.error('HOST', `devices[${i}].major`, `no character device driver '${d.major}' on this host (see /proc/devices)`);
      return;
    }
    const allowed = whitelist.some((r) => resolveMajor(r.major, options) === major && d.minor >= r.firstMinor && d.minor <= r.lastMinor);
    if (!allowed) {
      const ranges = whitelist.map((r) => describeRange(r, options)).join('; ');
      issues.error('NOT_ALLOWED', `devices[${i}]`, `device ${major}:${d.minor} is not allowed; allowed are ${ranges || 'none'}`);
      return;
    }
    rules.push({ allow: true, type: 'c', major, minor: d.minor, access: d.access });
  });
  return rules;
}

export function buildLinux(spec: DobbySpec, options: SpecToOciOptions, netns: boolean, issues: Issues): OciConfig['linux'] {
  const nodes = hardwareNodes(spec, options);
  const resources = buildResources(spec, options, [
    { allow: false, access: 'rwm' },
    ...nodes.map((n): OciDeviceRule => ({ allow: true, type: 'c', major: n.major, minor: n.minor, access: 'rw' })),
    ...deviceRules(spec.devices, options, issues),
  ], issues);
  const own = (ns: HostNamespace) => !spec.hostNamespaces.includes(ns);

  const linux: OciConfig['linux'] = {
    devices: nodes.map(nodeToOci),
    resources,
    // A namespace left out is the host's (Dobby's order otherwise).
    namespaces: [
      ...(own('pid') ? [{ type: 'pid' }] : []), ...(netns ? [{ type: 'network' }] : []), ...(own('ipc') ? [{ type: 'ipc' }] : []),
      ...(own('uts') ? [{ type: 'uts' }] : []), ...(spec.userNs ? [{ type: 'user' }] : []), { type: 'mount' },
    ],
    maskedPaths: ['/proc/kcore', '/proc/latency_stats', '/proc/timer_stats', '/proc/sched_debug'],
    readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    rootfsPropagation: 'slave',
    seccomp: seccompToOci(spec.seccomp),
  };
  if (spec.userNs) {
    const maps = idMappings(spec, extraGids(spec, options), issues);
    return { uidMappings: maps.uid, gidMappings: maps.gid, ...linux };
  }
  return linux;
}
