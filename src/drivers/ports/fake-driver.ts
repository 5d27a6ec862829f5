// An in-memory port driver for model tests: records what is forwarded, fails where told, takes as long as told.

import type { ActivePort, PortDriver, PortDriverName, PortTarget } from './port-driver.ts';
import { PortError } from '../../ports/port-errors.ts';
import { conflicts } from '../../ports/port-spec.ts';

export class FakePortDriver implements PortDriver {
  readonly name: PortDriverName;
  /** What is forwarded now, by port id. */
  readonly active = new Map<number, ActivePort>();
  /** Every id ever added successfully, in order. */
  readonly history: number[] = [];
  /** Decides whether an add fails (after its delay); default never. */
  failWhen: (port: ActivePort) => boolean = () => false;
  /** Awaited inside add and remove, so a test can interleave calls (fc.scheduler). */
  delay: () => Promise<void> = () => Promise.resolve();
  /** Calls overlapping another call: a serialising manager keeps this at zero. */
  overlaps = 0;
  #inFlight = 0;

  constructor(name: PortDriverName = 'nat') {
    this.name = name;
  }

  async #enter<T>(fn: () => T): Promise<T> {
    if (this.#inFlight > 0) this.overlaps++;
    this.#inFlight++;
    try {
      await this.delay();
      return fn();
    } finally {
      this.#inFlight--;
    }
  }

  add(port: ActivePort, _target: PortTarget): Promise<void> {
    return this.#enter(() => {
      if (this.active.has(port.id)) throw new PortError('driver-failed', `fake: port ${port.id} added twice`);
      // What the kernel would do: two listeners on one address cannot both bind.
      for (const other of this.active.values()) {
        if (conflicts(other.spec, port.spec)) throw new PortError('address-in-use', `fake: port ${port.id} collides with ${other.id} at bind time`);
      }
      if (this.failWhen(port)) throw new PortError('driver-failed', `fake: told to fail port ${port.id}`);
      this.active.set(port.id, port);
      this.history.push(port.id);
    });
  }

  remove(port: ActivePort): Promise<void> {
    return this.#enter(() => void this.active.delete(port.id));
  }

  async close(): Promise<void> {
    this.active.clear();
  }
}
