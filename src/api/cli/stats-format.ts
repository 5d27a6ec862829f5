// `dobby stats`: GetStats' JSON turned into a few human-readable lines (bytes in MiB, ns in seconds, -1 as unlimited).

export interface StatsDoc {
  readonly id: string;
  readonly descriptor: number;
  readonly state: string;
  /** Present for restartOnCrash containers. */
  readonly restarts?: number;
  readonly cgroupVersion: 1 | 2 | null;
  readonly cpu: { readonly totalNs: number | null; readonly userNs: number | null; readonly systemNs: number | null };
  readonly memory: { readonly usage: number | null; readonly peak: number | null; readonly limit: number | null; readonly failcnt: number | null };
  readonly pids: { readonly current: number | null; readonly limit: number | null };
}

function bytes(n: number | null): string {
  if (n === null) return 'n/a';
  if (n < 0) return 'unlimited';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function seconds(ns: number | null): string {
  return ns === null ? 'n/a' : `${(ns / 1e9).toFixed(3)} s`;
}

function count(n: number | null): string {
  return n === null ? 'n/a' : n < 0 ? 'unlimited' : String(n);
}

export function statsLines(s: StatsDoc): string[] {
  const layout = s.cgroupVersion === null ? 'no cgroup' : `cgroup v${s.cgroupVersion}`;
  return [
    `id      : ${s.id} (descriptor ${s.descriptor}, ${s.state}, ${layout})`,
    `cpu     : ${seconds(s.cpu.totalNs)} (user ${seconds(s.cpu.userNs)}, system ${seconds(s.cpu.systemNs)})`,
    `memory  : ${bytes(s.memory.usage)} (peak ${bytes(s.memory.peak)}, limit ${bytes(s.memory.limit)}${s.memory.failcnt === null ? '' : `, limit hit ${s.memory.failcnt} times`})`,
    `pids    : ${count(s.pids.current)} (limit ${count(s.pids.limit)})`,
    ...(s.restarts === undefined ? [] : [`restarts: ${s.restarts} (restartOnCrash)`]),
  ];
}
