// Dobby's `dnsmasq` for nat containers, the parts outside the firewall (rules.ts has the DNAT): the
// resolv.conf the container sees, and whether the host has a resolver for it on 127.0.0.1:53.
//
// Dobby writes `nameserver 100.64.11.1` into the container's rootfs; here the file lives in the
// daemon's state dir (`<networking state dir>/resolv/<id>.conf`) and is bound read-only at
// /etc/resolv.conf instead of the host's, so the caller's rootfs is never written. The file goes at
// the container's stop; those an earlier daemon left go when the plugin starts (a running container
// keeps what it has: a bind mount holds on to the file it was made from).

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, type NetExec } from '../../drivers/network/net-exec.ts';
import { parseSsListeners } from '../../drivers/ports/listeners.ts';
import { DNS_PORT } from './rules.ts';

export class ResolvFiles {
  readonly #dir: string;

  /** Removes whatever an earlier daemon left in `dir`. */
  constructor(dir: string) {
    this.#dir = dir;
    rmSync(dir, { recursive: true, force: true });
  }

  #path(id: string): string {
    // Ids are checked by the daemon; this keeps a bad one from naming a file elsewhere all the same.
    if (id === '' || id.includes('/') || id === '.' || id === '..') throw new RangeError(`bad container id for a resolv.conf file: ${JSON.stringify(id)}`);
    return join(this.#dir, `${id}.conf`);
  }

  /** Writes the container's resolv.conf naming the bridge; returns its path. */
  write(id: string, bridgeAddress: string): string {
    mkdirSync(this.#dir, { recursive: true, mode: 0o755 });
    const path = this.#path(id);
    writeFileSync(path, `# dobbyd: networking dnsmasq, the host's resolver on 127.0.0.1:${DNS_PORT} through the bridge\nnameserver ${bridgeAddress}\n`, { mode: 0o644 });
    return path;
  }

  remove(id: string): void {
    rmSync(this.#path(id), { force: true });
  }
}

/** The protocols (udp, tcp) nothing in the host namespace listens for on 127.0.0.1:53 (nor on every IPv4 address). */
export async function missingResolver(exec: NetExec): Promise<('udp' | 'tcp')[]> {
  // One ss for both: with two protocols it starts each line with the protocol.
  const { stdout } = await exec.run(HOST, ['ss', '-Hlnut', `sport = :${DNS_PORT}`]);
  return (['udp', 'tcp'] as const).filter((proto) => !resolverIn(stdout, proto));
}

/** Whether `ss -Hlnut` output shows a `proto` socket on 127.0.0.1 or every IPv4 address. */
export function resolverIn(ssOutput: string, proto: 'udp' | 'tcp'): boolean {
  return ssOutput.split('\n').some((line) => {
    const trimmed = line.trim();
    if (!trimmed.startsWith(`${proto} `)) return false;
    return parseSsListeners(trimmed.slice(proto.length)).some(([, binds]) => binds.some((b) => b.family === 4 && (b.address === null || b.address === '127.0.0.1')));
  });
}
