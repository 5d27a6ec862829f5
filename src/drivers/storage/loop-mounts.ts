// Loop devices (losetup) and mounts (mount, umount, /proc/self/mountinfo) on the host, for the
// storage driver. Every failure is a DobbyError carrying the tool's stderr.

import { readFile } from 'node:fs/promises';
import { DobbyError } from '../../errors.ts';
import { run, type RunResult } from '../process.ts';

export interface LoopMountTools {
  readonly losetup: string;
  readonly mount: string;
  readonly umount: string;
}

export const DEFAULT_LOOP_MOUNT_TOOLS: LoopMountTools = { losetup: 'losetup', mount: 'mount', umount: 'umount' };

const TOOL_TIMEOUT_MS = 30_000;

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export class LoopMounts {
  readonly #tools: LoopMountTools;

  constructor(tools: Partial<LoopMountTools> = {}) {
    this.#tools = { ...DEFAULT_LOOP_MOUNT_TOOLS, ...tools };
  }

  async #run(file: string, args: readonly string[], what: string): Promise<RunResult> {
    let r: RunResult;
    try {
      r = await run(file, args, { timeoutMs: TOOL_TIMEOUT_MS });
    } catch (err) {
      throw new DobbyError('HOST_UNSUITABLE', `${what}: ${file} cannot be run (${(err as NodeJS.ErrnoException).code ?? String(err)}); install util-linux`, { cause: err });
    }
    if (r.code !== 0) {
      throw new DobbyError('RUNTIME_FAILED', `${what} failed: ${r.stderr.trim() || `exit ${String(r.code ?? r.signal)}`}`, { exitStatus: r.code, stderr: r.stderr });
    }
    return r;
  }

  async attach(image: string): Promise<string> {
    const r = await this.#run(this.#tools.losetup, ['--find', '--show', image], `attaching ${image} to a loop device`);
    const device = r.stdout.trim();
    if (!/^\/dev\/loop\d+$/.test(device)) throw new DobbyError('RUNTIME_FAILED', `losetup named no loop device for ${image} (it printed ${JSON.stringify(device)})`);
    return device;
  }

  async attachedTo(image: string): Promise<readonly string[]> {
    const r = await this.#run(this.#tools.losetup, ['--associated', image, '--noheadings', '--output', 'NAME'], `listing the loop devices of ${image}`);
    return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  }

  async detach(device: string): Promise<void> {
    await this.#run(this.#tools.losetup, ['--detach', device], `detaching ${device}`);
  }

  async mount(device: string, target: string, fstype: string, options: readonly string[]): Promise<void> {
    const opts = options.length > 0 ? ['-o', options.join(',')] : [];
    await this.#run(this.#tools.mount, ['-t', fstype, ...opts, device, target], `mounting ${device} (${fstype}) at ${target}`);
  }

  async unmount(target: string): Promise<void> {
    const r = await run(this.#tools.umount, [target], { timeoutMs: TOOL_TIMEOUT_MS }).catch(() => null);
    if (r !== null && r.code === 0) return;
    // Busy (a process of ours still in it): detached now, released once the last user goes.
    await this.#run(this.#tools.umount, ['--lazy', target], `unmounting ${target}`);
  }

  async mountsUnder(dir: string): Promise<readonly string[]> {
    const text = await readFile('/proc/self/mountinfo', 'utf8');
    const points = text.split('\n').map((line) => line.split(' ')[4]).filter((p): p is string => p !== undefined).map(unescapeMountPath);
    const under = points.filter((p) => p === dir || p.startsWith(`${dir}/`));
    // Deepest first, and the later of two mounts on one point first (each umount takes the top one).
    return [...under].reverse().sort((a, b) => b.split('/').length - a.split('/').length);
  }
}
