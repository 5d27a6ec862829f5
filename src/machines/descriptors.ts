// Container descriptors as Dobby hands them out: a 10-bit LFSR sequence over 1..1023, skipping live ones.

export const DESCRIPTOR_SEED = 0x1bc;

/** One step of Dobby's Fibonacci LFSR (taps 10 and 7): 734, 879, 439, 731, ... from the seed. */
export function lfsrNext(state: number): number {
  const bit = (state ^ (state >> 3)) & 1;
  return (state >> 1) | (bit << 9);
}

/**
 * The next descriptor not in use, and the LFSR state after it; null when all 1023 are taken.
 * The LFSR visits every value of 1..1023 once per period, so one period is enough to find a free one.
 */
export function allocateDescriptor(state: number, inUse: ReadonlySet<number>): { descriptor: number; state: number } | null {
  let s = state;
  for (let i = 0; i < 1023; i++) {
    s = lfsrNext(s);
    if (!inUse.has(s)) return { descriptor: s, state: s };
  }
  return null;
}
