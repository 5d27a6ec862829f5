// The environment a container's process runs with, read from /proc once the runtime's init has exec'd it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A start's reply can come before the runtime's init has exec'd the container's process: until then
 * cmdline says crun, and while the exec is under way the new image's environ is not set up yet and
 * reads empty (a config always gives PATH, so an empty one is never the answer).
 */
export async function containerEnviron(pid: number, timeoutMs = 10_000): Promise<Map<string, string>> {
  const read = (): readonly string[] | null => {
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('crun')) return null;
    const vars = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((l) => l.includes('='));
    return vars.length === 0 ? null : vars;
  };
  const end = Date.now() + timeoutMs;
  let vars = read();
  while (vars === null && Date.now() < end) {
    await sleep(50);
    vars = read();
  }
  assert.ok(vars !== null, `container process ${pid} showed no environment within ${timeoutMs} ms`);
  return new Map(vars.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}
