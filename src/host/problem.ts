// What a host check reports (one problem, with the exact fix) and how the report is printed.

export interface HostProblem {
  /** Stable identifier, e.g. `runtime-missing`, `cgroup-hybrid-controllers`. */
  readonly code: string;
  /** What is wrong, naming the thing (binary, controller, address). */
  readonly what: string;
  /** The exact command or action that fixes it. */
  readonly fix: string;
  /** A fatal problem stops the daemon from starting. */
  readonly fatal: boolean;
}

/** Sorts fatal problems first, then by code; stable for equal keys. */
export function sortProblems(problems: readonly HostProblem[]): HostProblem[] {
  return [...problems].sort((a, b) => Number(b.fatal) - Number(a.fatal) || a.code.localeCompare(b.code));
}

/** True when any problem would stop the daemon. */
export function hasFatal(problems: readonly HostProblem[]): boolean {
  return problems.some((p) => p.fatal);
}

/** Human-readable report: "host ok" when there is nothing to report. */
export function formatProblems(problems: readonly HostProblem[]): string {
  if (problems.length === 0) return 'host ok';
  const fatal = problems.filter((p) => p.fatal).length;
  const head = fatal > 0
    ? `the host is not ready for dobbyd: ${fatal} fatal problem${fatal === 1 ? '' : 's'}` +
      (problems.length > fatal ? `, ${problems.length - fatal} warning${problems.length - fatal === 1 ? '' : 's'}` : '')
    : `host ok, with ${problems.length} warning${problems.length === 1 ? '' : 's'}`;
  const lines = [head + ':'];
  for (const p of sortProblems(problems)) {
    lines.push(`  ${p.fatal ? 'FATAL' : 'warn '} [${p.code}] ${p.what}`);
    lines.push(`        fix: ${p.fix}`);
  }
  return lines.join('\n');
}
