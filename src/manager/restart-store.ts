// The bundles and fd copies of containers that restart on crash: a restart needs them after the
// caller's fds are closed and the first run's teardown is over; they go when the container goes for good.

import type { FdDuplicator } from '../drivers/fds/duplicate.ts';
import type { Logger } from '../log.ts';

/** A container that restarts on crash: its bundle and fd copies live until it is gone for good. */
export interface Restartable {
  readonly bundle: string;
  /** Our copies of the caller's fds (the caller's own are closed once the start is answered). */
  readonly fds: readonly number[];
  /** Known once the first start succeeded. */
  descriptor: number | null;
}

export interface RestartStoreOptions {
  readonly fdDuplicator: FdDuplicator;
  /** Removes a generated bundle (none without spec support). */
  readonly removeBundle: (bundle: string) => Promise<void>;
  readonly logger: Logger;
}

export class RestartStore {
  readonly #options: RestartStoreOptions;
  /** By id (ids are unique among live containers, through restarts too). */
  readonly #byId = new Map<string, Restartable>();
  /** Final clean-ups (bundle, fd copies) in flight, by descriptor. */
  readonly #cleanups = new Map<number, Promise<void>>();

  constructor(options: RestartStoreOptions) {
    this.#options = options;
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** Keeps copies of the caller's fds with the bundle, for the restarts of `id`. */
  async keep(id: string, bundle: string, fds: readonly number[]): Promise<Restartable> {
    const restartable: Restartable = { bundle, fds: await this.#options.fdDuplicator.duplicate(fds), descriptor: null };
    this.#byId.set(id, restartable);
    return restartable;
  }

  /** The first start failed: nothing will restart; the copies go now (the bundle is the caller's to remove). */
  drop(id: string, restartable: Restartable): void {
    if (this.#byId.get(id) !== restartable) return;
    this.#byId.delete(id);
    this.#options.fdDuplicator.close(restartable.fds);
  }

  /** A bundle a restart will need again: teardown must leave it. */
  ownsBundle(bundle: string): boolean {
    for (const r of this.#byId.values()) if (r.bundle === bundle) return true;
    return false;
  }

  /** The container is gone for good: its bundle and fd copies go too. */
  forget(id: string, descriptor: number): void {
    const r = this.#byId.get(id);
    if (r === undefined || r.descriptor !== descriptor) return;
    this.#byId.delete(id);
    this.#options.fdDuplicator.close(r.fds);
    const log = this.#options.logger.child({ containerId: id, descriptor });
    const cleanup = this.#options.removeBundle(r.bundle)
      .catch((err: unknown) => log.warn({ err }, 'could not remove the generated bundle'))
      .finally(() => this.#cleanups.delete(descriptor));
    this.#cleanups.set(descriptor, cleanup);
  }

  /** Resolves once the final clean-up of `descriptor` (if one runs) is over. */
  async cleanedUp(descriptor: number): Promise<void> {
    await this.#cleanups.get(descriptor);
  }

  async allCleanedUp(): Promise<void> {
    await Promise.all(this.#cleanups.values());
  }
}
