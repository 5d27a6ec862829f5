// The StartState postConstruction hooks write to: env vars, fds, mounts and namespaces collected for the launch config.

import { DobbyError } from '../errors.ts';
import type { OciDeviceRule, OciMount, OciRlimit } from '../spec/oci-types.ts';
import type { DeviceRenumber, StartAdditions, StartState } from './types.ts';

/** Dobby passes at most 128 fds into a container (caller's and plugins' together). */
export const MAX_CONTAINER_FDS = 128;

/** The OCI runtime spec's namespace types. */
const NAMESPACE_TYPES: readonly string[] = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'];

export interface CollectingStartState {
  /** The view one hook writes through; it stops accepting additions once `seal()` is called. */
  forHook(plugin: string): StartState & { seal(): void };
  readonly additions: StartAdditions;
}

/**
 * One start's additions. `callerFds` is how many fds the start call itself passes: they take
 * container fds 3.., so a plugin's first fd becomes 3 + callerFds.
 */
export function createStartState(callerFds: number): CollectingStartState {
  const env: string[] = [];
  const fds: number[] = [];
  const mounts: OciMount[] = [];
  const rlimits: OciRlimit[] = [];
  const namespaces: string[] = [];
  const devices: DeviceRenumber[] = [];
  const deviceRules: OciDeviceRule[] = [];
  const groups: number[] = [];
  const additions: StartAdditions = { env, fds, mounts, rlimits, namespaces, devices, deviceRules, groups };

  return {
    additions,
    forHook(plugin) {
      let sealed = false;
      const open = (what: string): void => {
        if (sealed) {
          throw new DobbyError('ILLEGAL_STATE', `plugin '${plugin}' tried to ${what} after its postConstruction hook ended; additions are only taken while the hook runs`);
        }
      };
      return {
        seal: () => void (sealed = true),
        get additions() {
          return additions;
        },
        addEnvironmentVariable(nameValue) {
          open('add an environment variable');
          if (typeof nameValue !== 'string' || !/^[^=\0]+=[^\0]*$/.test(nameValue)) {
            throw new DobbyError('INVALID_ARGUMENT', `plugin '${plugin}': environment entry ${JSON.stringify(nameValue)} must look like NAME=value`);
          }
          if (!env.includes(nameValue)) env.push(nameValue);
        },
        addFileDescriptor(_owner, fd) {
          open('add a file descriptor');
          if (!Number.isInteger(fd) || fd < 0) {
            throw new DobbyError('INVALID_ARGUMENT', `plugin '${plugin}': ${String(fd)} is not a file descriptor (a whole number >= 0)`);
          }
          if (callerFds + fds.length >= MAX_CONTAINER_FDS) {
            throw new DobbyError('INVALID_ARGUMENT', `plugin '${plugin}': a container takes at most ${MAX_CONTAINER_FDS} fds`);
          }
          fds.push(fd);
          return 3 + callerFds + fds.length - 1;
        },
        addMount(mount) {
          open('add a mount');
          if (mount === null || typeof mount !== 'object' || typeof mount.destination !== 'string' || !mount.destination.startsWith('/')) {
            throw new DobbyError('INVALID_ARGUMENT', `plugin '${plugin}': a mount needs an absolute destination inside the container`);
          }
          mounts.push(mount);
        },
        setRlimit(rlimit) {
          open('set a resource limit');
          const ok = rlimit !== null && typeof rlimit === 'object' && /^RLIMIT_[A-Z]+$/.test(String(rlimit.type)) &&
            [rlimit.soft, rlimit.hard].every((n) => Number.isSafeInteger(n) && n >= 0) && rlimit.soft <= rlimit.hard;
          if (!ok) {
            throw new DobbyError('INVALID_ARGUMENT', `plugin '${plugin}': rlimit ${JSON.stringify(rlimit)} must be {type: "RLIMIT_...", soft, hard} with 0 <= soft <= hard`);
          }
          const at = rlimits.findIndex((r) => r.type === rlimit.type);
          if (at >= 0) rlimits.splice(at, 1);
          rlimits.push({ type: rlimit.type, soft: rlimit.soft, hard: rlimit.hard });
        },
        addNamespace(type) {
          open('add a namespace');
          if (typeof type !== 'string' || !NAMESPACE_TYPES.includes(type)) {
            throw new DobbyError('INVALID_ARGUMENT', `plugin '${plugin}': namespace type ${JSON.stringify(type)} is not one of ${NAMESPACE_TYPES.join(', ')}`);
          }
          if (!namespaces.includes(type)) namespaces.push(type);
        },
        renumberDevice(device) {
          open('renumber a device');
          const ok = device !== null && typeof device === 'object' && typeof device.path === 'string' && device.path.startsWith('/') &&
            [device.major, device.minor].every((n) => Number.isSafeInteger(n) && n >= 0);
          if (!ok) {
            throw new DobbyError('INVALID_ARGUMENT', `plugin '${plugin}': device ${JSON.stringify(device)} must be {path: "/...", major, minor} with whole numbers >= 0`);
          }
          const at = devices.findIndex((d) => d.path === device.path);
          if (at >= 0) devices.splice(at, 1);
          devices.push({ path: device.path, major: device.major, minor: device.minor });
        },
        addDeviceRule(rule) {
          open('add a device rule');
          const id = (n: unknown): boolean => n === undefined || (Number.isSafeInteger(n) && (n as number) >= -1);
          const ok = rule !== null && typeof rule === 'object' && typeof rule.allow === 'boolean' && [undefined, 'a', 'b', 'c'].includes(rule.type) &&
            id(rule.major) && id(rule.minor) && (rule.access === undefined || /^[rwm]{1,3}$/.test(rule.access));
          if (!ok) {
            throw new DobbyError('INVALID_ARGUMENT', `plugin '${plugin}': device rule ${JSON.stringify(rule)} must be {allow, type: "a"|"b"|"c", major, minor, access: "rwm"}`);
          }
          deviceRules.push({ ...rule });
        },
        addGroup(gid) {
          open('add a group');
          if (!Number.isSafeInteger(gid) || gid < 0 || gid >= 0xffffffff) {
            throw new DobbyError('INVALID_ARGUMENT', `plugin '${plugin}': group ${String(gid)} is not a gid (a whole number from 0 to 4294967294)`);
          }
          if (!groups.includes(gid)) groups.push(gid);
        },
      };
    },
  };
}
