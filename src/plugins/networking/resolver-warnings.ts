// Whether the host has a resolver for dnsmasq containers on 127.0.0.1:53, asked per start without
// holding the start up: the check begins while the runtime creates the container and is awaited
// once its network is attached. A missing resolver is a host matter, so it is warned about once
// per change of what is missing, not for every container (a device starting dozens of apps would
// log the same line dozens of times).

import type { Logger } from 'pino';

export type ResolverProtocol = 'udp' | 'tcp';

export class ResolverWarnings {
  readonly #check: () => Promise<readonly ResolverProtocol[]>;
  readonly #bridgeAddress: string;
  readonly #pending = new Map<string, Promise<readonly ResolverProtocol[]>>();
  /** What the last check found missing ('' for nothing, null before the first). */
  #lastMissing: string | null = null;

  constructor(check: () => Promise<readonly ResolverProtocol[]>, bridgeAddress: string) {
    this.#check = check;
    this.#bridgeAddress = bridgeAddress;
  }

  /** Starts the check for a container (once); a check that cannot run finds nothing missing. */
  begin(id: string): void {
    if (!this.#pending.has(id)) this.#pending.set(id, this.#check().catch(() => []));
  }

  /** Awaits the container's check and warns when what is missing differs from the last check's. */
  async report(id: string, logger: Logger): Promise<void> {
    this.begin(id);
    const missing = await (this.#pending.get(id) as Promise<readonly ResolverProtocol[]>);
    this.#pending.delete(id);
    const key = missing.join(', ');
    const changed = key !== this.#lastMissing;
    this.#lastMissing = key;
    if (missing.length === 0) return;
    const message = `networking.data.dnsmasq: nothing in the host's network namespace listens on 127.0.0.1:53 (${key}), so the container's DNS queries to ${this.#bridgeAddress} get no answer: run a DNS server or forwarder (dnsmasq, unbound) on 127.0.0.1:53`;
    if (changed) logger.warn({ missing }, message);
    else logger.debug({ missing }, `${message} (warned at an earlier start)`);
  }

  /** The container is gone before its check was awaited (a failed start). */
  forget(id: string): void {
    this.#pending.delete(id);
  }
}
