// RootfsPlan: the directories and files the daemon creates in a spec container's rootfs (Dobby's DobbyRootfs).

import type { DobbySpec } from './types.ts';
import type { MountSourceKind, SpecToOciOptions } from './options.ts';
import type { Issues } from './result.ts';
import { coveredDirs, hardwareMounts } from './oci-mounts.ts';
import { isWithin, normaliseContainerPath } from './container-path.ts';
import { CONTAINER_HOME } from './oci-process.ts';

export interface RootfsFile {
  /** Relative to the rootfs, e.g. `etc/passwd`. */
  readonly path: string;
  readonly contents: string;
  readonly mode: number;
}

export interface RootfsPlan {
  /** Relative to the rootfs, parents before children; created with mode 0755. */
  readonly directories: readonly string[];
  readonly files: readonly RootfsFile[];
  /**
   * Host uid/gid that owns the rootfs and everything in the plan: set for a writable rootfs (`readonlyRootfs:
   * false`), so the container's user (its root, under a user namespace) can write there. Otherwise root owns all.
   */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

export const DIR_MODE = 0o755;
export const FILE_MODE = 0o644;

/** Dobby's fixed /etc/nsswitch.conf. */
export const NSSWITCH_CONF = 'hosts:     files mdns4_minimal [NOTFOUND=return] dns mdns4\nprotocols: files\n';

class PlanBuilder {
  private readonly kinds = new Map<string, 'dir' | 'file'>();
  private readonly dirs: string[] = [];
  private readonly files = new Map<string, RootfsFile>();
  private readonly issues: Issues;

  constructor(issues: Issues) {
    this.issues = issues;
  }

  /** `path` is absolute inside the container and already normalised. */
  private parents(path: string, label: string): boolean {
    const parts = path.split('/').filter((p) => p !== '');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const kind = this.kinds.get(dir);
      if (kind === 'file') {
        this.issues.error('INVALID_VALUE', label, `'${path}' lies under the file /${dir}; mount it somewhere else`);
        return false;
      }
      if (kind === undefined) {
        this.kinds.set(dir, 'dir');
        this.dirs.push(dir);
      }
    }
    return true;
  }

  dir(path: string, label: string): void {
    if (!this.parents(path, label)) return;
    const rel = path.replace(/^\/+/, '');
    const kind = this.kinds.get(rel);
    if (kind === 'file') this.issues.error('INVALID_VALUE', label, `'${path}' is a file in the generated rootfs; it cannot be a directory`);
    else if (kind === undefined) {
      this.kinds.set(rel, 'dir');
      this.dirs.push(rel);
    }
  }

  /** An existing file keeps its contents: an /etc file that is also a mount point stays as written. */
  file(path: string, contents: string, label: string): void {
    if (!this.parents(path, label)) return;
    const rel = path.replace(/^\/+/, '');
    const kind = this.kinds.get(rel);
    if (kind === 'dir') this.issues.error('INVALID_VALUE', label, `'${path}' is a directory in the generated rootfs; it cannot be a file`);
    else if (kind === undefined) {
      this.kinds.set(rel, 'file');
      this.files.set(rel, { path: rel, contents, mode: FILE_MODE });
    }
  }

  plan(owner?: { uid: number; gid: number }): RootfsPlan {
    return { directories: [...this.dirs], files: [...this.files.values()], ...(owner === undefined ? {} : { owner }) };
  }
}

function lines(list: readonly string[]): string {
  return list.map((l) => `${l}\n`).join('');
}

function mountPointKind(type: string, source: string, options: SpecToOciOptions, label: string, issues: Issues): 'dir' | 'file' {
  if (type !== 'bind' && type !== 'rbind') return 'dir';
  const kind: MountSourceKind = options.mountSourceKind?.(source) ?? 'directory';
  if (kind === 'missing') issues.warn(`${label}: the host path '${source}' does not exist; the container will fail to start`);
  return kind === 'file' ? 'file' : 'dir';
}

export function buildRootfsPlan(spec: DobbySpec, options: SpecToOciOptions, netns: boolean, issues: Issues): RootfsPlan {
  const b = new PlanBuilder(issues);
  const hasLib64 = options.hasLib64 === true;
  for (const dir of ['/proc', '/tmp', '/dev', '/sys', '/sys/fs/cgroup', '/lib', ...(hasLib64 ? ['/lib64'] : []), '/bin', '/sbin', '/usr']) {
    b.dir(dir, 'rootfs');
  }
  b.dir(CONTAINER_HOME, 'rootfs');
  b.dir('/etc/ssl/certs', 'rootfs');
  b.file('/etc/group', lines(spec.etc.group), 'etc.group');
  b.file('/etc/passwd', lines(spec.etc.passwd), 'etc.passwd');
  b.file('/etc/hosts', lines(spec.etc.hosts), 'etc.hosts');
  b.file('/etc/services', lines(spec.etc.services), 'etc.services');
  b.file('/etc/ld.so.preload', lines(spec.etc.ldPreload), 'etc.ld-preload');
  b.file('/etc/nsswitch.conf', NSSWITCH_CONF, 'rootfs');
  b.file('/etc/resolv.conf', '', 'rootfs');

  // Mount points under what crun mounts first (tmpfs /dev, host /usr, ...) would be hidden or must not be made here.
  const covered = coveredDirs(hasLib64, netns);
  const points: { destination: string; type: string; source: string; label: string }[] = [
    ...hardwareMounts(spec, options).map((m) => ({ ...m, label: 'gpu/vpu settings mount' })),
    ...spec.mounts.map((m, i) => ({
      destination: m.destination, type: m.kind === 'loop' ? 'loop' : m.type, source: m.source, label: `mounts[${i}].destination`,
    })),
  ];
  for (const p of points) {
    const normal = normaliseContainerPath(p.destination);
    if (!normal.ok || normal.path === '/') {
      issues.error('INVALID_VALUE', p.label, normal.ok ? 'mounting over / is not allowed' : normal.reason);
      continue;
    }
    if (covered.some((dir) => isWithin(normal.path, dir))) continue;
    if (mountPointKind(p.type, p.source, options, p.label, issues) === 'file') b.file(normal.path, '', p.label);
    else b.dir(normal.path, p.label);
  }
  // crun cannot chdir into a cwd that does not exist (and a read-only rootfs could not get it later): make it, unless
  // a mount provides it. Under what crun mounts fresh (/tmp, /dev, /proc) or the host's read-only dirs it cannot be.
  const underMount = spec.mounts.some((m) => isWithin(spec.cwd, m.destination));
  if (spec.cwd !== '/' && !underMount) {
    const dir = covered.find((d) => isWithin(spec.cwd, d));
    if (dir === undefined) b.dir(spec.cwd, 'cwd');
    else if (['/tmp', '/dev', '/proc', '/sys'].some((d) => isWithin(spec.cwd, d)) && spec.cwd !== dir) {
      issues.warn(`cwd: '${spec.cwd}' is inside ${dir}, which is mounted empty when the container starts; crun will fail to enter it`);
    }
  }
  return b.plan(spec.readonlyRootfs ? undefined : { uid: spec.user.uid, gid: spec.user.gid });
}
