// Loop devices (losetup) and mounts (mount, umount, /proc/self/mountinfo) on the host, for the
// storage driver. Every failure is a DobbyError carrying the tool's stderr.

import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DobbyError } from '../../errors.ts';
import { run, type RunResult } from '../process.ts';

export interface LoopMountTools {
  readonly losetup: string;
  readonly mount: string;
  readonly umount: string;
}

export const DEFAULT_LOOP_MOUNT_TOOLS: LoopMountTools = { losetup: 'losetup', mount: 'mount', umount: 'umount' };

const TOOL_TIMEOUT_MS = 30_000;
/** How long the kernel gets to release a loop device nothing of ours holds any more. */
export const DEFAULT_RELEASE_TIMEOUT_MS = 5_000;
/** sysfs attributes give no inotify event when a loop device is cleared, so its state is read again at this pace. */
const RELEASE_POLL_MS = 10;

/** `/dev/loopN` to its sysfs dir; null for anything else. */
function sysfsOf(device: string): string | null {
  const m = /^\/dev\/(loop\d+)$/.exec(device);
  return m === null ? null : `/sys/block/${m[1]!}`;
}

/** What the kernel says of a loop device now: its backing file and autoclear flag, or null when it is free. */
async function loopState(device: string): Promise<{ readonly backingFile: string; readonly autoclear: boolean; readonly devno: string } | null> {
  const sys = sysfsOf(device);
  if (sys === null) throw new DobbyError('INVALID_ARGUMENT', `${device} is not a loop device (/dev/loopN)`);
  // The loop/ attribute group exists only while a file is attached.
  const backingFile = await readFile(`${sys}/loop/backing_file`, 'utf8').catch(() => null);
  if (backingFile === null) return null;
  const autoclear = (await readFile(`${sys}/loop/autoclear`, 'utf8').catch(() => '0')).trim() === '1';
  const devno = (await readFile(`${sys}/dev`, 'utf8').catch(() => '')).trim();
  return { backingFile: backingFile.trim(), autoclear, devno };
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function failed(what: string, r: RunResult): DobbyError {
  return new DobbyError('RUNTIME_FAILED', `${what} failed: ${r.stderr.trim() || `exit ${String(r.code ?? r.signal)}`}`, { exitStatus: r.code, stderr: r.stderr });
}

export class LoopMounts {
  readonly #tools: LoopMountTools;

  constructor(tools: Partial<LoopMountTools> = {}) {
    this.#tools = { ...DEFAULT_LOOP_MOUNT_TOOLS, ...tools };
  }

  /** The tool's result whatever its exit; an error only when it cannot be run at all. */
  async #try(file: string, args: readonly string[], what: string): Promise<RunResult> {
    try {
      return await run(file, args, { timeoutMs: TOOL_TIMEOUT_MS });
    } catch (err) {
      throw new DobbyError('HOST_UNSUITABLE', `${what}: ${file} cannot be run (${(err as NodeJS.ErrnoException).code ?? String(err)}); install util-linux`, { cause: err });
    }
  }

  async #run(file: string, args: readonly string[], what: string): Promise<RunResult> {
    const r = await this.#try(file, args, what);
    if (r.code !== 0) throw failed(what, r);
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

  /**
   * Detaches the device. One still mounted in this mount namespace only gets autoclear (the kernel
   * frees it when its last mount goes); any other is waited for until the kernel has really freed
   * it, since the last close of an autoclear device can land after the call that made it (a
   * mount namespace, a lazy unmount or a prober still holding it a moment).
   */
  async detach(device: string): Promise<void> {
    const before = await loopState(device);
    if (before === null) return;
    const what = `detaching ${device}`;
    const r = await this.#try(this.#tools.losetup, ['--detach', device], what);
    const after = await loopState(device);
    if (after === null || after.backingFile !== before.backingFile) return;
    // Failed on a device the kernel is not already clearing: the tool's complaint is the answer.
    if (r.code !== 0 && !after.autoclear) throw failed(what, r);
    if (await this.#mountedHere(after.devno)) return;
    await this.awaitRelease(device);
  }

  /**
   * Resolves once the kernel has freed the device (nothing attached, or another file attached
   * since); a TIMEOUT error naming the device and its file when that takes over `timeoutMs`.
   */
  async awaitRelease(device: string, timeoutMs = DEFAULT_RELEASE_TIMEOUT_MS): Promise<void> {
    const first = await loopState(device);
    if (first === null) return;
    // Without autoclear the kernel never frees it by itself: no use waiting.
    if (!first.autoclear) throw new DobbyError('RUNTIME_FAILED', `loop device ${device} (${first.backingFile}) is still attached and not set to detach itself (autoclear is off); detach it with losetup -d`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await sleep(RELEASE_POLL_MS);
      const now = await loopState(device);
      if (now === null || now.backingFile !== first.backingFile) return;
      if (Date.now() >= deadline) {
        throw new DobbyError('TIMEOUT', `loop device ${device} (${now.backingFile}) was not released within ${String(timeoutMs)} ms: something still holds it open (a mount in another mount namespace, or a process)`);
      }
    }
  }

  /** Whether a mount of this namespace is on the device `major:minor`. */
  async #mountedHere(devno: string): Promise<boolean> {
    const text = await readFile('/proc/self/mountinfo', 'utf8');
    return text.split('\n').some((line) => line.split(' ')[2] === devno);
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
