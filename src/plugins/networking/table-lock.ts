// A shared/exclusive lock over the host's firewall tables. Containers' own iptables batches (rules
// only they name, inserted or deleted whole) run side by side: iptables-restore commits each batch
// atomically and, with nf_tables, starts over itself when another commit came in between. Anything
// that reads the tables and then writes what it read (crash recovery, the bridge's chains) runs
// alone, and so does every ebtables batch: ebtables-restore 1.8.9 (nf_tables) does not start over
// and fails with exit 4 ("RULE_DELETE failed") when any nf_tables commit, iptables' included, lands
// while it runs. Waiting exclusive work goes before shared work that comes after it, so a stream of
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
