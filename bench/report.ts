// The bench's output: each figure with its range, each dobbyd figure as a ratio against a named
// yardstick (median of the per-round ratios), and at the end every target with PASS or MISS.

import { fmtMs, fmtRatio, pairRatios, summarise, type Summary } from './stats.ts';

interface TargetRow {
  readonly what: string;
  readonly yardstick: string;
  readonly ratio: number;
  readonly max: number;
}

export class Report {
  readonly #targets: TargetRow[] = [];

  section(title: string): void {
    console.log(`\n${title}`);
  }

  figure(label: string, samples: readonly number[]): void {
    console.log(`  ${label.padEnd(58)} ${fmtMs(summarise(samples))}`);
  }

  /** ours/yardstick per round; with `max`, also a target row. */
  ratio(what: string, ours: readonly number[], yardstick: string, theirs: readonly number[], max?: number): Summary {
    const r = pairRatios(ours, theirs);
    const verdict = max === undefined ? '' : `  target ≤ ${max.toFixed(2)}: ${r.median <= max ? 'PASS' : 'MISS'}`;
    console.log(`  ${`ratio against ${yardstick}`.padEnd(58)} ${fmtRatio(r)}${verdict}`);
    if (max !== undefined) this.#targets.push({ what, yardstick, ratio: r.median, max });
    return r;
  }

  /** A target that is not a ratio of timings (memory): `value` against `max`, in the unit given. */
  limit(what: string, value: number, yardstick: string, max: number, unit: string): void {
    const verdict = value <= max ? 'PASS' : 'MISS';
    console.log(`  ${what.padEnd(58)} ${value.toFixed(3)} ${unit} (target ≤ ${max.toFixed(2)} ${unit}, ${yardstick}): ${verdict}`);
    this.#targets.push({ what: `${what} [${unit}]`, yardstick, ratio: value, max });
  }

  summary(): void {
    console.log('\ntargets (medians of one run)');
    for (const t of this.#targets) {
      console.log(`  ${t.ratio <= t.max ? 'PASS' : 'MISS'}  ${t.what.padEnd(52)} ${t.ratio.toFixed(3)} ≤ ${t.max.toFixed(2)}  (${t.yardstick})`);
    }
  }
}

