// Group commit for firewall batches: a batch that comes while another is being applied waits, and
// every batch that came meanwhile goes in together next, in one restore process. Ten containers
// starting at once then cost a few processes instead of ten in a row (each spawn forks the daemon,
// and ebtables batches run one at a time). A lone batch goes at once, as before. The batches of a
// group are independent (each container's own rules): when the group fails, which all-or-nothing
// restores make a no-op, each goes again alone, so one bad batch fails only its own container.

import type { FirewallChange } from '../../drivers/network/firewall.ts';

type Apply = (changes: readonly FirewallChange[], containerId?: string) => Promise<void>;

interface Waiting {
  readonly changes: readonly FirewallChange[];
  readonly id: string;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class BatchQueue {
  readonly #apply: Apply;
  #waiting: Waiting[] = [];
  #draining = false;

  constructor(apply: Apply) {
    this.#apply = apply;
  }

  submit(changes: readonly FirewallChange[], id: string): Promise<void> {
    if (changes.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiting.push({ changes, id, resolve, reject });
      if (!this.#draining) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#waiting.length > 0) {
        const group = this.#waiting;
        this.#waiting = [];
        await this.#applyGroup(group);
      }
    } finally {
      this.#draining = false;
    }
  }

  async #applyGroup(group: readonly Waiting[]): Promise<void> {
    const [only] = group;
    if (group.length === 1 && only !== undefined) {
      await this.#apply(only.changes, only.id).then(only.resolve, only.reject);
      return;
    }
    try {
      await this.#apply(group.flatMap((w) => w.changes));
      for (const w of group) w.resolve();
    } catch {
      for (const w of group) await this.#apply(w.changes, w.id).then(w.resolve, w.reject);
    }
  }
}
