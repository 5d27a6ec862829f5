// The storage plugin's data (Dobby's rdkPlugins.storage.data): loopback images, dynamic bind mounts
// and mount owners, with Dobby's names, types and defaults. A bad field is an error naming it.

import { MS } from '../../drivers/mount/flags.ts';
import { MANAGED_FS_TYPES, type ManagedFsType } from '../../drivers/storage/types.ts';
import { readDataObject, type DataObject, type Parsed } from '../data-reader.ts';

export const STORAGE_PLUGIN = 'storage';

/** Dobby's image sizes when `imgsize` is not given. */
export const DEFAULT_IMAGE_SIZE = 12 * 1024 * 1024;
export const DEFAULT_XFS_IMAGE_SIZE = 16 * 1024 * 1024;

const MS_MANDLOCK = 0x40;
const MS_LAZYTIME = 1 << 25;

/** mount(2) flag bits a loop mount takes, by mount(8)'s names; `perMount` ones also apply to a bind. */
const FLAG_NAMES: readonly { readonly bit: number; readonly name: string; readonly perMount: boolean }[] = [
  { bit: MS.RDONLY, name: 'ro', perMount: true },
  { bit: MS.NOSUID, name: 'nosuid', perMount: true },
  { bit: MS.NODEV, name: 'nodev', perMount: true },
  { bit: MS.NOEXEC, name: 'noexec', perMount: true },
  { bit: MS.SYNCHRONOUS, name: 'sync', perMount: false },
  { bit: MS_MANDLOCK, name: 'mand', perMount: false },
  { bit: MS.DIRSYNC, name: 'dirsync', perMount: false },
  { bit: MS.NOATIME, name: 'noatime', perMount: true },
  { bit: MS.NODIRATIME, name: 'nodiratime', perMount: true },
  { bit: MS.SILENT, name: 'silent', perMount: false },
  { bit: MS.RELATIME, name: 'relatime', perMount: true },
  { bit: MS.STRICTATIME, name: 'strictatime', perMount: true },
  { bit: MS_LAZYTIME, name: 'lazytime', perMount: false },
];
const BIND_BITS = MS.BIND | MS.REC;
const KNOWN_BITS = FLAG_NAMES.reduce((all, f) => all | f.bit, BIND_BITS);

export interface MountFlagNames {
  /** Every flag by name, for the loop mount itself. */
  readonly all: readonly string[];
  /** The per-mount ones, for a bind of it into the container. */
  readonly perMount: readonly string[];
  /** MS_BIND and MS_REC as given (only dynamic mounts use them). */
  readonly bind: boolean;
  readonly recursive: boolean;
}

export interface LoopbackMount {
  readonly source: string;
  readonly destination: string;
  readonly flags: MountFlagNames;
  readonly fstype: string;
  /** mount data, joined with `,`. */
  readonly options: readonly string[];
  readonly persistent: boolean;
  readonly imgsize: number;
  readonly imgmanagement: boolean;
}

export interface DynamicMount {
  readonly source: string;
  readonly destination: string;
  readonly flags: MountFlagNames;
  readonly options: readonly string[];
}

export interface MountOwner {
  readonly source: string;
  /** Host user and group names (or ids); null: the container's user, mapped to the host. */
  readonly user: string | null;
  readonly group: string | null;
  readonly recursive: boolean;
}

export interface StorageData {
  readonly loopback: readonly LoopbackMount[];
  readonly dynamic: readonly DynamicMount[];
  readonly mountOwner: readonly MountOwner[];
}

const FSTYPE = /^[a-z0-9][a-z0-9._-]{0,31}$/;

function flagNames(obj: DataObject): MountFlagNames {
  const flags = obj.int32('flags', 0, { what: 'mount(2) flags, e.g. 14 for nosuid, nodev and noexec' });
  const unknown = flags & ~KNOWN_BITS;
  if (unknown !== 0) {
    throw obj.error('flags', `is ${flags}, with bits 0x${(unknown >>> 0).toString(16)} a mount here cannot take; use MS_RDONLY (1), MS_NOSUID (2), MS_NODEV (4), MS_NOEXEC (8), MS_NOATIME (1024) and the like`);
  }
  const set = FLAG_NAMES.filter((f) => (flags & f.bit) !== 0);
  return {
    all: set.map((f) => f.name),
    perMount: set.filter((f) => f.perMount).map((f) => f.name),
    bind: (flags & MS.BIND) !== 0,
    recursive: (flags & MS.REC) !== 0,
  };
}

function mountOptions(obj: DataObject): string[] {
  const options = obj.strings('options');
  options.forEach((o, i) => {
    if (o === '' || o.includes(',')) throw obj.error(`options[${i}]`, `is ${JSON.stringify(o)}; give one mount option per entry, e.g. "errors=remount-ro"`);
  });
  return options;
}

function loopback(obj: DataObject): LoopbackMount {
  const source = obj.hostPath('source', 'the image file on the host');
  const destination = obj.containerPath('destination', 'where the image is mounted in the container');
  const flags = flagNames(obj);
  if (flags.bind || flags.recursive) obj.warn(`${obj.path}.flags: MS_BIND and MS_REC mean nothing to a loop mount and are ignored`);
  const imgmanagement = obj.bool('imgmanagement', true);
  const fstype = obj.string('fstype', 'ext4', 'the filesystem in the image').toLowerCase();
  if (!FSTYPE.test(fstype)) throw obj.error('fstype', `is ${JSON.stringify(fstype)}; give a filesystem type such as "ext4"`);
  if (imgmanagement && !isManagedFsType(fstype)) {
    throw obj.error('fstype', `is "${fstype}", which the image manager cannot make or check; use ${MANAGED_FS_TYPES.join(', ')}, or "imgmanagement": false for an image you provide`);
  }
  const fallbackSize = fstype === 'xfs' ? DEFAULT_XFS_IMAGE_SIZE : DEFAULT_IMAGE_SIZE;
  const imgsize = obj.int32('imgsize', fallbackSize, { min: 1, what: 'the size of a new image in bytes' });
  return { source, destination, flags, fstype, options: mountOptions(obj), persistent: obj.bool('persistent', true), imgsize, imgmanagement };
}

function dynamic(obj: DataObject): DynamicMount {
  return {
    source: obj.hostPath('source', 'the host file or directory to bind'),
    destination: obj.containerPath('destination', 'where it appears in the container'),
    flags: flagNames(obj),
    options: mountOptions(obj),
  };
}

function ownerName(obj: DataObject, key: string): string | null {
  if (!obj.has(key)) return null;
  const name = obj.string(key, null, `a host ${key} name`);
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}\$?$/.test(name)) throw obj.error(key, `is ${JSON.stringify(name)}; give a ${key} name of the host (or its number)`);
  return name;
}

export function parseStorageData(data: unknown): Parsed<StorageData> {
  const { root, warnings } = readDataObject(STORAGE_PLUGIN, data, ['loopback', 'dynamic', 'mountOwner'],
    'give {"loopback": [...], "dynamic": [...], "mountOwner": [...]}');
  const loops = root.objects('loopback', ['source', 'destination', 'flags', 'fstype', 'options', 'persistent', 'imgsize', 'imgmanagement'],
    '{"source": "/opt/data/app.img", "destination": "/home/private", "flags": 14, "fstype": "ext4"}').map(loopback);
  const dynamics = root.objects('dynamic', ['source', 'destination', 'flags', 'options'],
    '{"source": "/opt/shared", "destination": "/shared", "flags": 14}').map(dynamic);
  const owners = root.objects('mountOwner', ['source', 'user', 'group', 'recursive'],
    '{"source": "/opt/shared", "user": "app", "group": "app", "recursive": true}').map((obj): MountOwner => ({
    source: obj.hostPath('source', 'the host path whose owner is set'),
    user: ownerName(obj, 'user'),
    group: ownerName(obj, 'group'),
    recursive: obj.bool('recursive', false),
  }));
  const seen = new Map<string, string>();
  const claim = (destination: string, field: string): void => {
    const earlier = seen.get(destination);
    if (earlier !== undefined) throw root.error(`${field}.destination`, `'${destination}' is already the destination of ${earlier}; mount each path once`);
    seen.set(destination, field);
  };
  loops.forEach((l, i) => claim(l.destination, `loopback[${i}]`));
  dynamics.forEach((d, i) => claim(d.destination, `dynamic[${i}]`));
  return { data: { loopback: loops, dynamic: dynamics, mountOwner: owners }, warnings };
}

/** The OCI options of the bind that puts a mount into the container. */
export function bindOptions(flags: MountFlagNames, recursive: boolean, extra: readonly string[] = []): string[] {
  return [recursive ? 'rbind' : 'bind', ...flags.perMount, ...extra];
}

/** Narrowing for the driver: parseStorageData only lets managed images have these types. */
export function isManagedFsType(fstype: string): fstype is ManagedFsType {
  return (MANAGED_FS_TYPES as readonly string[]).includes(fstype);
}
