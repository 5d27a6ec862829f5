// smcroute, the static multicast router that forwards a group from the external interfaces onto the
// bridge: each container's `mroute` lines are a block of smcroute's config file between
// `#START:<id>` and `#END:<id>` (Dobby's markers), and smcrouted re-reads the file on
// `smcroutectl restart` (Dobby's command; smcroute 2.5 takes it as `reload`).
//
// The file may hold the host's own lines too: only our marked blocks are touched, each edit a whole
// new file renamed over the old one (smcrouted never reads half a file), and edits of one file are
// serialised in this process, so containers starting and stopping together keep each other's blocks.

import { existsSync } from 'node:fs';
import { chmod, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DobbyError } from '../../errors.ts';
import { Semaphore } from '../../semaphore.ts';
import { resolveExecutable, run, summariseStderr, type DriverLogger } from '../process.ts';

/** Where a container's multicast routes live. */
export interface MulticastRouter {
  /** Throws HOST_UNSUITABLE, naming what to install or start, when routes cannot be set. */
  check(containerId: string): Promise<void>;
  /** False on a kernel without multicast routing of the family (CONFIG_IP_MROUTE, CONFIG_IPV6_MROUTE): routes are accepted and do nothing. */
  kernelRoutes(family: 4 | 6): boolean;
  /** True when the container has a block (also after a daemon restart: it is read from the file). */
  hasBlock(containerId: string): Promise<boolean>;
  /** Puts the container's lines in (replacing a block it had) and has the daemon re-read them. */
  setBlock(containerId: string, lines: readonly string[]): Promise<void>;
  /**
   * Takes the container's block out (a no-op without one). A daemon that cannot be told is only
   * logged: the file is right, and a daemon started later reads it as it is.
   */
  removeBlock(containerId: string, logger?: DriverLogger): Promise<void>;
}

export const DEFAULT_SMCROUTE_CONFIG = '/opt/smcroute.conf';
export const DEFAULT_SMCROUTECTL = '/usr/sbin/smcroutectl';

export interface SmcrouteOptions {
  /** The file smcrouted was started with (`-f`); default Dobby's /opt/smcroute.conf. */
  readonly configFile?: string;
  /** Default /usr/sbin/smcroutectl. */
  readonly smcroutectl?: string;
  /** The daemon's identity (`smcrouted -I NAME`, so its socket is /run/NAME.sock); null: smcroute's default. */
  readonly identity?: string | null;
  /** Where the kernel says it routes multicast; default /proc/net (its ip_mr_vif and ip6_mr_vif). */
  readonly procNet?: string;
  readonly timeoutMs?: number;
}

const startMark = (id: string): string => `#START:${id}`;
const endMark = (id: string): string => `#END:${id}`;

/** The file's lines without the container's block (every one of them, should there be two). */
export function withoutBlock(lines: readonly string[], id: string): string[] {
  const out: string[] = [];
  let inside = false;
  for (const line of lines) {
    if (!inside && line === startMark(id)) inside = true;
    else if (inside && line === endMark(id)) inside = false;
    else if (!inside) out.push(line);
  }
  return out;
}

export function hasBlockIn(lines: readonly string[], id: string): boolean {
  return lines.includes(startMark(id));
}

export function blockLines(id: string, lines: readonly string[]): string[] {
  return [startMark(id), ...lines, endMark(id)];
}

/** One lock per file for every router of this process (tests make several plugins on one file). */
const fileLocks = new Map<string, Semaphore>();

export class Smcroute implements MulticastRouter {
  readonly #file: string;
  readonly #ctl: string;
  readonly #identity: string | null;
  readonly #procNet: string;
  readonly #timeoutMs: number;
  readonly #lock: Semaphore;

  constructor(options: SmcrouteOptions = {}) {
    this.#file = options.configFile ?? DEFAULT_SMCROUTE_CONFIG;
    this.#ctl = options.smcroutectl ?? DEFAULT_SMCROUTECTL;
    this.#identity = options.identity ?? null;
    if (this.#identity !== null && !/^[A-Za-z0-9_.-]{1,64}$/.test(this.#identity)) {
      throw new DobbyError('INVALID_ARGUMENT', `networking smcroute identity '${this.#identity}' must be 1-64 of A-Z a-z 0-9 _ . -`);
    }
    this.#procNet = options.procNet ?? '/proc/net';
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    let lock = fileLocks.get(this.#file);
    if (lock === undefined) fileLocks.set(this.#file, lock = new Semaphore(1));
    this.#lock = lock;
  }

  #daemonHint(): string {
    const ident = this.#identity === null ? '' : ` -I ${this.#identity}`;
    return `start smcrouted reading ${this.#file} (smcrouted -f ${this.#file}${ident}; Debian: the smcroute service with that -f)`;
  }

  async #ctlRun(args: readonly string[], containerId: string): Promise<void> {
    const argv = [...(this.#identity === null ? [] : ['-I', this.#identity]), ...args];
    const command = `${this.#ctl} ${argv.join(' ')}`;
    const r = await run(this.#ctl, argv, { timeoutMs: this.#timeoutMs }).catch((err: unknown) => {
      throw new DobbyError('HOST_UNSUITABLE', `multicastForwarding needs smcroute, and '${this.#ctl}' cannot be run (${String(err)}): apt-get install smcroute, or set the networking plugin's smcroutectl option`, { containerId, verb: command, cause: err });
    });
    if (r.code !== 0) {
      throw new DobbyError('HOST_UNSUITABLE', `multicastForwarding needs a running smcrouted, and '${command}' failed (exit ${r.code ?? r.signal}): ${summariseStderr(r.stderr)}; ${this.#daemonHint()}`, {
        containerId, verb: command, exitStatus: r.code, stderr: r.stderr,
      });
    }
  }

  async check(containerId: string): Promise<void> {
    if (resolveExecutable(this.#ctl) === null) {
      throw new DobbyError('HOST_UNSUITABLE', `multicastForwarding needs smcroute, and ${this.#ctl} is not there: apt-get install smcroute (and ${this.#daemonHint()}), or set the networking plugin's smcroutectl option`, { containerId });
    }
    await this.#ctlRun(['show'], containerId);
  }

  kernelRoutes(family: 4 | 6): boolean {
    return existsSync(join(this.#procNet, family === 4 ? 'ip_mr_vif' : 'ip6_mr_vif'));
  }

  async #read(containerId: string): Promise<string[]> {
    try {
      const text = await readFile(this.#file, 'utf8');
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      return lines;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new DobbyError('HOST_UNSUITABLE', `cannot read smcroute's config file ${this.#file}: ${(err as Error).message}`, { containerId, cause: err });
    }
  }

  /** The whole file anew, renamed over the old one with the old one's mode. */
  async #write(lines: readonly string[], containerId: string): Promise<void> {
    const tmp = join(dirname(this.#file), `.${basename(this.#file)}.${process.pid}.tmp`);
    try {
      const mode = await stat(this.#file).then((s) => s.mode & 0o7777, () => 0o644);
      await writeFile(tmp, lines.length === 0 ? '' : `${lines.join('\n')}\n`, { mode });
      await chmod(tmp, mode);
      await rename(tmp, this.#file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new DobbyError('HOST_UNSUITABLE', `cannot write smcroute's config file ${this.#file}: ${(err as Error).message}`, { containerId, cause: err });
    }
  }

  async hasBlock(containerId: string): Promise<boolean> {
    return hasBlockIn(await this.#read(containerId), containerId);
  }

  setBlock(containerId: string, lines: readonly string[]): Promise<void> {
    return this.#lock.run(async () => {
      await this.#write([...withoutBlock(await this.#read(containerId), containerId), ...blockLines(containerId, lines)], containerId);
      await this.#ctlRun(['restart'], containerId);
    });
  }

  removeBlock(containerId: string, logger?: DriverLogger): Promise<void> {
    return this.#lock.run(async () => {
      const current = await this.#read(containerId);
      if (!hasBlockIn(current, containerId)) return;
      await this.#write(withoutBlock(current, containerId), containerId);
      await this.#ctlRun(['restart'], containerId).catch((err: unknown) => {
        logger?.warn({ err: (err as Error).message }, 'removed the multicast routes from smcroute\'s config file, but could not tell smcrouted');
      });
    });
  }
}
