// The `gamepad` plugin: Dobby's access to the host's input devices. postConstruction bind-mounts the
// host's /dev/input at /dev/input (`bind nosuid noexec`), allows the cgroup access Dobby allows
// (character devices 13:64 to 13:73, the event devices, `rw`) and adds the host's `input` group to
// the container's groups (mapped to itself in a user namespace). Its data may be absent and is not
// read. Unlike Dobby, a host without /dev/input fails the hook (fatal only when `required`) rather
// than the mount, and a host without an `input` group (exactly that name) adds no group, with a
// warning, rather than gid 4294967295. Nothing to undo.

import { readFile, stat } from 'node:fs/promises';
import { DobbyError } from '../../errors.ts';
import { readPluginData } from '../plugin-data.ts';
import { HookHint, type DobbyPlugin } from '../types.ts';

export const GAMEPAD_PLUGIN = 'gamepad';
export const INPUT_DIR = '/dev/input';
const INPUT_MAJOR = 13;
/** Dobby's range: event0 to event9. */
const EVENT_MINORS = [64, 73] as const;

export interface GamepadPluginOptions {
  /** The host's input device dir (default /dev/input); it is seen at /dev/input inside. */
  readonly inputDir?: string;
  /** The host's group database (default /etc/group), where the `input` group is looked up. */
  readonly groupFile?: string;
}

const checkGamepadData = (data: unknown): readonly string[] => readPluginData(GAMEPAD_PLUGIN, data, [], { optional: true }).warnings;

/** The gid of the group named `name` in group(5) text, or null. */
export function gidOf(groupText: string, name: string): number | null {
  for (const line of groupText.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return null;
}

export function createGamepadPlugin(options: GamepadPluginOptions = {}): DobbyPlugin {
  const inputDir = options.inputDir ?? INPUT_DIR;
  const groupFile = options.groupFile ?? '/etc/group';

  return {
    name: GAMEPAD_PLUGIN,
    hookHints: HookHint.PostConstructionSync,
    checkData: checkGamepadData,
    async postConstruction(ctx, startState) {
      const info = await stat(inputDir).catch(() => null);
      if (info === null || !info.isDirectory()) {
        throw new DobbyError('HOST_UNSUITABLE', `container '${ctx.id}': gamepad: this host has no input devices (${inputDir} is ${info === null ? 'not there' : 'not a directory'})`,
          { containerId: ctx.id });
      }
      const gid = gidOf(await readFile(groupFile, 'utf8').catch(() => ''), 'input');
      startState.addMount({ source: inputDir, destination: INPUT_DIR, type: 'bind', options: ['bind', 'nosuid', 'noexec'] });
      for (let minor = EVENT_MINORS[0]; minor <= EVENT_MINORS[1]; minor++) {
        startState.addDeviceRule({ allow: true, type: 'c', major: INPUT_MAJOR, minor, access: 'rw' });
      }
      if (gid === null) ctx.logger.warn(`gamepad: ${groupFile} has no 'input' group; the container reaches the input devices only if their mode lets it`);
      else startState.addGroup(gid);
      ctx.logger.debug({ inputDir, gid }, 'input devices mapped');
    },
  };
}
