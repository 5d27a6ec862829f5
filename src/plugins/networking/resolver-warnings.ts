// Whether the host has a resolver for dnsmasq containers on 127.0.0.1:53, asked at each start
// without holding the start up: the check (one `ss`) runs once the container's network is attached
// and reports when it is done. Starts that come while a check runs share it, and starts soon after
// an answer (2 s by default) take that answer: a burst of ten starts ran ss six to ten times (4 ms
// of CPU each, beside the starts), and a resolver that comes or goes is seen a moment later. A
// missing resolver is a host matter: it is warned about once per change of what is missing, not
// for every container (a device starting dozens of apps would log the same line dozens of times).

import type { Logger } from 'pino';

export type ResolverProtocol = 'udp' | 'tcp';

export interface ResolverWarningsOptions {
  /** How long (ms) an answer stands for the starts that follow it; default 2000. */
  readonly freshMs?: number | undefined;
  readonly now?: () => number;
}

export class ResolverWarnings {
  readonly #check: () => Promise<readonly ResolverProtocol[]>;
  readonly #bridgeAddress: string;
  readonly #now: () => number;
  readonly #freshMs: number;
  #inFlight: Promise<readonly ResolverProtocol[]> | null = null;
  #answer: { readonly at: number; readonly missing: readonly ResolverProtocol[] } | null = null;
  readonly #reports = new Set<Promise<void>>();
  /** What the last check found missing ('' for nothing, null before the first). */
  #lastMissing: string | null = null;

  constructor(check: () => Promise<readonly ResolverProtocol[]>, bridgeAddress: string, options: ResolverWarningsOptions = {}) {
    this.#check = check;
    this.#bridgeAddress = bridgeAddress;
    this.#now = options.now ?? (() => performance.now());
    this.#freshMs = options.freshMs ?? 2000;
  }

  /** Checks (or joins the check under way, or takes a fresh answer) and reports for the container; never rejects. */
  check(logger: Logger): void {
    const report = this.#missing().then((missing) => this.#report(missing, logger));
    this.#reports.add(report);
    void report.finally(() => this.#reports.delete(report));
  }

  #missing(): Promise<readonly ResolverProtocol[]> {
    if (this.#inFlight !== null) return this.#inFlight;
    const answer = this.#answer;
    if (answer !== null && this.#now() - answer.at < this.#freshMs) return Promise.resolve(answer.missing);
    // A check that failed is no answer: the next start checks again.
    this.#inFlight = this.#check()
      .then((missing) => {
        this.#answer = { at: this.#now(), missing };
        return missing;
      }, () => [])
      .finally(() => {
        this.#inFlight = null;
      });
    return this.#inFlight;
  }

  /** Settles once every check asked for so far has been reported. */
  async settled(): Promise<void> {
    while (this.#reports.size > 0) await Promise.all(this.#reports);
  }

  #report(missing: readonly ResolverProtocol[], logger: Logger): void {
    const key = missing.join(', ');
    const changed = key !== this.#lastMissing;
    this.#lastMissing = key;
    if (missing.length === 0) return;
    const message = `networking.data.dnsmasq: nothing in the host's network namespace listens on 127.0.0.1:53 (${key}), so the container's DNS queries to ${this.#bridgeAddress} get no answer: run a DNS server or forwarder (dnsmasq, unbound) on 127.0.0.1:53`;
    if (changed) logger.warn({ missing }, message);
    else logger.debug({ missing }, `${message} (warned at an earlier start)`);
  }
}
