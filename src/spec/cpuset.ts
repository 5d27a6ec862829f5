// CPU lists in the kernel's list format ("0-1,3"), as Dobby's `cpu.cores` takes them.

/** Dobby's spec can name CPUs 0..7 only (it keeps the list in an 8-bit set). */
export const MAX_SPEC_CORES = 8;

export type CpuListResult = { readonly ok: true; readonly cpus: number[] } | { readonly ok: false; readonly reason: string };

/** Parses "0-1,3" into [0, 1, 3] (sorted, unique); every CPU must be below `limit`. */
export function parseCpuList(text: string, limit: number = MAX_SPEC_CORES): CpuListResult {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, reason: 'is empty; list CPUs like "0-1,3"' };
  const set = new Set<number>();
  for (const part of trimmed.split(',')) {
    const m = /^\s*(\d{1,4})(?:\s*-\s*(\d{1,4}))?\s*$/.exec(part);
    if (m === null) return { ok: false, reason: `has '${part.slice(0, 20)}', which is not a CPU number or range; list CPUs like "0-1,3"` };
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > to) return { ok: false, reason: `has the range ${from}-${to}, which runs backwards; write ${to}-${from}` };
    if (to >= limit) return { ok: false, reason: `names CPU ${to}; a Dobby spec can name CPUs 0..${limit - 1} only` };
    for (let cpu = from; cpu <= to; cpu++) set.add(cpu);
  }
  return { ok: true, cpus: [...set].sort((a, b) => a - b) };
}
