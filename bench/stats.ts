// Benchmark arithmetic: medians, ranges and pair-by-pair ratios of alternately measured samples.

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function summarise(values: readonly number[]): Summary {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

/** Ratios a[i]/b[i] of samples taken in the same round, summarised. */
export function pairRatios(a: readonly number[], b: readonly number[]): Summary {
  const n = Math.min(a.length, b.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) ratios.push((a[i] as number) / (b[i] as number));
  return summarise(ratios);
}

export function fmtMs(s: Summary): string {
  return `${s.median.toFixed(1)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)}, n=${s.n})`;
}

export function fmtRatio(s: Summary): string {
  return `${s.median.toFixed(2)} [${s.min.toFixed(2)}–${s.max.toFixed(2)}]`;
}

/**
 * Runs each variant once per round, alternating, after warm-up rounds; returns samples per variant.
 * Alternation spreads the machine's noise over all variants alike.
 */
export async function alternate(
  variants: ReadonlyArray<{ readonly name: string; run(round: number): Promise<number> }>,
  rounds: number,
  warmup: number,
): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let round = -warmup; round < rounds; round++) {
    for (const variant of variants) {
      const ms = await variant.run(round);
      if (round >= 0) samples.get(variant.name)?.push(ms);
    }
  }
  return samples;
}
