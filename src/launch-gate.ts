// Lets container creates reach their monitor's launch one at a time, in the order they came.
//
// Why: concurrent starts interleave at every await of their preparations (the bundle's config, the
// launch config, the record, the monitor's files), so all of them reach conmon's launch together,
// after all of their preparations: ten bundle starts at once launched their first conmon 27 ms after
// the ten calls had arrived, while the runtime's processes could have been running on the other
// core. In turn, the first is launched after its own preparation and each next one after its own.
// Only a matter of speed: a holder that has not let go within `maxHoldMs` (a bundle on a slow or
// hung file system) no longer holds the next one back.

export class LaunchGate {
  readonly #maxHoldMs: number;
  #last: Promise<void> = Promise.resolve();

  constructor(maxHoldMs = 50) {
    this.#maxHoldMs = maxHoldMs;
  }

  /** Resolves, in call order, with the function that lets the next one in (calling it again is harmless). */
  async enter(): Promise<() => void> {
    let leave = (): void => undefined;
    const left = new Promise<void>((resolve) => {
      leave = resolve;
    });
    const before = this.#last;
    // The next one waits for this one to leave, or for its time to run out.
    this.#last = Promise.race([left, before.then(() => delay(this.#maxHoldMs))]);
    await before;
    return leave;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });
}
