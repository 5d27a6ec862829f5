// Turns inotify events on conmon's exit dir into one report per recorded exit (no polling).

import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';

export interface ExitWatcherOptions {
  readonly dir: string;
  /**
   * Looks at one file; resolves true once it held a complete record (the watcher then ignores
   * the name until `forget`), false when it is not there, not complete yet, or not ours.
   */
  readonly inspect: (name: string) => Promise<boolean>;
  readonly onError: (err: unknown) => void;
}

/**
 * conmon may create an exit file before its content is written, and inotify may report a name
 * several times, so each name is inspected once at a time and again on its next event until complete.
 */
export class ExitWatcher {
  readonly #options: ExitWatcherOptions;
  readonly #watcher: FSWatcher;
  readonly #done = new Set<string>();
  readonly #inFlight = new Set<string>();
  readonly #again = new Set<string>();
  #closed = false;

  constructor(options: ExitWatcherOptions) {
    this.#options = options;
    this.#watcher = watch(options.dir, (_event, name) => {
      // The kernel gives no name when its event queue overflowed: look at everything.
      if (name === null) this.#rescan();
      else this.#consider(name);
    });
    this.#watcher.on('error', (err) => options.onError(err));
    // Exits recorded before anyone watched (an early exit, a daemon restart) are reported too.
    this.#rescan();
  }

  /** Lets a name be reported again (its container was released, or created anew). */
  forget(name: string): void {
    this.#done.delete(name);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.close();
  }

  #rescan(): void {
    readdir(this.#options.dir).then(
      (names) => names.forEach((n) => this.#consider(n)),
      (err: unknown) => this.#options.onError(err),
    );
  }

  #consider(name: string): void {
    if (this.#closed || this.#done.has(name)) return;
    if (this.#inFlight.has(name)) {
      this.#again.add(name);
      return;
    }
    this.#inFlight.add(name);
    this.#options
      .inspect(name)
      .then(
        (complete) => {
          if (complete) this.#done.add(name);
        },
        (err: unknown) => this.#options.onError(err),
      )
      .finally(() => {
        this.#inFlight.delete(name);
        if (this.#again.delete(name)) this.#consider(name);
      });
  }
}
