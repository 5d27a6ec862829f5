// Builds small busybox-static OCI bundles for tests, config.json written here (no `crun spec`).

import { copyFile, link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const BUSYBOX = '/bin/busybox';
/** Static tini: a pid-1 that dies of the signal it forwards (exit 128+N), as Dobby's own init does. */
export const TINI = '/usr/bin/tini-static';

const APPLETS = [
  'sh', 'cat', 'echo', 'sleep', 'true', 'false', 'dd', 'readlink', 'ls', 'touch', 'mkdir', 'kill', 'ps', 'env',
  'id', 'wc', 'grep', 'head', 'test', 'trap', 'pwd', 'hostname',
];

export interface BundleOptions {
  readonly args: readonly string[];
  readonly env?: readonly string[];
  readonly cwd?: string;
  /** Bytes; sets linux.resources.memory.limit. */
  readonly memoryLimit?: number;
  /** process.terminal; false unless asked (a terminal needs a console socket). */
  readonly tty?: boolean;
  readonly readonlyRootfs?: boolean;
  readonly hostname?: string;
  /**
   * Run args under tini. A container's init ignores every signal it has no handler for (SIGKILL
   * aside), so without it `kill TERM` does nothing to e.g. a busybox sleep.
   */
  readonly init?: boolean;
}

const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/** An OCI runtime config for a busybox rootfs at `rootfs` (absolute: runc wants no symlinks). */
export function bundleConfig(rootfs: string, options: BundleOptions): Record<string, unknown> {
  const resources: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] };
  if (options.memoryLimit !== undefined) resources['memory'] = { limit: options.memoryLimit };
  return {
    ociVersion: '1.0.0',
    process: {
      terminal: options.tty === true,
      user: { uid: 0, gid: 0 },
      args: options.init === true ? ['/sbin/tini', '--', ...options.args] : [...options.args],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...(options.env ?? [])],
      cwd: options.cwd ?? '/',
      capabilities: {
        bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, inheritable: [], permitted: DEFAULT_CAPS, ambient: DEFAULT_CAPS,
      },
      // At or below this host's hard limit (20000), or the runtime fails without CAP_SYS_RESOURCE.
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: options.readonlyRootfs === true },
    hostname: options.hostname ?? 'dobby-test',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=16384k'] },
    ],
    linux: {
      resources,
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** Creates `dir` with rootfs/ (busybox and its applets) and config.json; returns the absolute path. */
export async function makeBundle(dir: string, options: BundleOptions): Promise<string> {
  const bundle = resolve(dir);
  const rootfs = join(bundle, 'rootfs');
  await Promise.all(['bin', 'sbin', 'proc', 'dev', 'sys', 'tmp', 'etc'].map((d) => mkdir(join(rootfs, d), { recursive: true })));
  await linkOrCopy(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  if (options.init === true) await linkOrCopy(TINI, join(rootfs, 'sbin', 'tini'));
  await Promise.all(APPLETS.map((a) => symlink('busybox', join(rootfs, 'bin', a))));
  await writeConfig(bundle, options);
  return bundle;
}

/** A hard link costs nothing when /tmp and /usr share a filesystem; copy otherwise. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  await link(from, to).catch(() => copyFile(from, to));
}

/** Rewrites config.json of an existing bundle (e.g. to make it invalid on purpose). */
export async function writeConfig(bundle: string, options: BundleOptions, edit?: (config: Record<string, unknown>) => void): Promise<void> {
  const config = bundleConfig(join(bundle, 'rootfs'), options);
  edit?.(config);
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
}
