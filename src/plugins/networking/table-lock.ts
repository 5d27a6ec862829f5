// A shared/exclusive lock over the host's firewall tables. Containers' own batches (rules only they
// name, inserted or deleted whole, iptables and ebtables) run side by side: each restore commits its
// batch atomically, and with nf_tables they do not trip over each other's commits (ebtables-restore
// did, exit 4 "RULE_DELETE failed", while our ebtables chains had the ACCEPT policy, which
// ebtables-nft keeps as a rule it deletes and re-adds on every append; they have RETURN now).
// Anything that reads the tables and then writes what it read (crash recovery, the bridge's chains)
// runs alone. Waiting exclusive work goes before shared work that comes after it, so a stream of
// container starts cannot hold a teardown off.

export class TableLock {
  #shared = 0;
  #exclusive = false;
  readonly #queue: Array<{ readonly exclusive: boolean; readonly go: () => void }> = [];

  shared<T>(task: () => Promise<T>): Promise<T> {
    return this.#run(false, task);
  }

  exclusive<T>(task: () => Promise<T>): Promise<T> {
    return this.#run(true, task);
  }

  #free(exclusive: boolean): boolean {
    return !this.#exclusive && (exclusive ? this.#shared === 0 : true) && this.#queue.length === 0;
  }

  async #run<T>(exclusive: boolean, task: () => Promise<T>): Promise<T> {
    if (this.#free(exclusive)) this.#take(exclusive);
    else await new Promise<void>((go) => this.#queue.push({ exclusive, go }));
    try {
      return await task();
    } finally {
      if (exclusive) this.#exclusive = false;
      else this.#shared--;
      this.#wake();
    }
  }

  #take(exclusive: boolean): void {
    if (exclusive) this.#exclusive = true;
    else this.#shared++;
  }

  /** Lets in, in order, whatever can go now: one exclusive holder, or every shared one up to the next exclusive. */
  #wake(): void {
    while (this.#queue.length > 0 && !this.#exclusive) {
      const next = this.#queue[0] as { readonly exclusive: boolean; readonly go: () => void };
      if (next.exclusive && this.#shared > 0) return;
      this.#queue.shift();
      this.#take(next.exclusive);
      next.go();
    }
  }
}
