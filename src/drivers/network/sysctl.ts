// Kernel settings of the host namespace (ip_forward and friends), read and written with `sysctl`.
//
// net.* settings are per network namespace, so with a stand-in host namespace the real host's
// settings stay as they are.

import type { NetExec } from './net-exec.ts';
import { HOST } from './net-exec.ts';

export interface Sysctl {
  /** The value, or null when the key does not exist (e.g. IPv6 disabled in the kernel). */
  get(name: string): Promise<string | null>;
  set(name: string, value: string): Promise<void>;
}

const KEY = /^[a-z0-9_.-]+$/;

export class SysctlCommand implements Sysctl {
  readonly #exec: NetExec;

  constructor(exec: NetExec) {
    this.#exec = exec;
  }

  async get(name: string): Promise<string | null> {
    if (!KEY.test(name)) throw new RangeError(`bad sysctl key ${name}`);
    try {
      return (await this.#exec.run(HOST, ['sysctl', '-n', name])).stdout.trim();
    } catch {
      return null;
    }
  }

  async set(name: string, value: string): Promise<void> {
    if (!KEY.test(name) || !/^[0-9]+$/.test(value)) throw new RangeError(`bad sysctl ${name}=${value}`);
    await this.#exec.run(HOST, ['sysctl', '-q', '-w', `${name}=${value}`]);
  }
}

export class FakeSysctl implements Sysctl {
  readonly values: Map<string, string>;

  constructor(initial: Readonly<Record<string, string>> = {
    'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0', 'net.ipv6.conf.all.disable_ipv6': '0',
    'net.bridge.bridge-nf-call-iptables': '1', 'net.bridge.bridge-nf-call-ip6tables': '1',
  }) {
    this.values = new Map(Object.entries(initial));
  }

  async get(name: string): Promise<string | null> {
    return this.values.get(name) ?? null;
  }

  async set(name: string, value: string): Promise<void> {
    if (!this.values.has(name)) throw new Error(`sysctl: cannot stat /proc/sys/${name.replaceAll('.', '/')}: No such file or directory`);
    this.values.set(name, value);
  }
}
