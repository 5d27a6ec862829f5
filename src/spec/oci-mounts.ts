// The OCI `mounts` list for a spec container: Dobby's template mounts, the init, hardware and spec mounts, /proc last.

import type { DobbySpec, SpecMount } from './types.ts';
import type { OciMount } from './oci-types.ts';
import type { ExtraMount, SpecToOciOptions } from './options.ts';
import { INIT_PATH_IN_CONTAINER } from './options.ts';
import { isWithin } from './container-path.ts';

const HOST_BIND_OPTIONS = ['rbind', 'nosuid', 'nodev', 'ro'];

/** Host directories bound read-only into every container. */
export function hostBinds(hasLib64: boolean): string[] {
  return hasLib64 ? ['/lib', '/lib64', '/bin', '/sbin', '/usr'] : ['/lib', '/bin', '/sbin', '/usr'];
}

/** Mount points that crun mounts over before any spec mount (anything below them is hidden or created by crun). */
export function coveredDirs(hasLib64: boolean, netns: boolean): string[] {
  return ['/tmp', '/dev', ...(netns ? ['/sys'] : []), '/sys/fs/cgroup', ...hostBinds(hasLib64), '/proc'];
}

function head(netns: boolean): OciMount[] {
  return [
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'nodev', 'size=65536k', 'nr_inodes=8k'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts', type: 'devpts', source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'nr_inodes=8k'] },
    // sysfs can only be mounted by a user namespace that owns the network namespace too.
    ...(netns ? [{ destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] }] : []),
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime'] },
  ];
}

function fromExtra(m: ExtraMount): OciMount {
  return { destination: m.destination, type: m.type, source: m.source, options: [...m.options] };
}

function fromSpec(m: SpecMount): OciMount {
  return { destination: m.destination, type: m.type, source: m.source, options: [...m.options] };
}

/** The hardware (settings) mounts that apply: only for enabled gpu/vpu. */
export function hardwareMounts(spec: DobbySpec, options: SpecToOciOptions): ExtraMount[] {
  return [
    ...(spec.gpu?.enable === true ? options.gpu?.extraMounts ?? [] : []),
    ...(spec.vpu?.enable === true ? options.vpu?.extraMounts ?? [] : []),
  ];
}

export function buildMounts(spec: DobbySpec, options: SpecToOciOptions, netns: boolean): OciMount[] {
  const binds = hostBinds(options.hasLib64 === true).map((dir) => ({
    destination: dir, type: 'bind', source: dir, options: [...HOST_BIND_OPTIONS],
  }));
  return [
    ...head(netns),
    ...binds,
    { destination: INIT_PATH_IN_CONTAINER, type: 'bind', source: options.initPath, options: ['bind', 'ro', 'nosuid', 'nodev'] },
    ...(spec.syslog && options.hasDevLog !== false ? [{ destination: '/dev/log', type: 'bind', source: '/dev/log', options: ['bind', 'ro'] }] : []),
    ...hardwareMounts(spec, options).map(fromExtra),
    ...spec.mounts.filter((m): m is SpecMount => m.kind === 'mount').map(fromSpec),
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  ];
}

/** Warnings for spec mounts whose mount point lies in a read-only host directory (crun would create it there). */
export function mountWarnings(spec: DobbySpec, hasLib64: boolean): string[] {
  const out: string[] = [];
  spec.mounts.forEach((m, i) => {
    const dir = hostBinds(hasLib64).find((d) => isWithin(m.destination, d));
    if (dir !== undefined) {
      out.push(`mounts[${i}].destination: '${m.destination}' is inside the host's read-only ${dir}; ` +
        'its mount point must already exist on the host, or crun creates it there');
    }
  });
  return out;
}
