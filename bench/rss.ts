// Resident memory of a process, from /proc, and of a bare idle node for comparison.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** Starts `node -e 'setInterval(...)'`, lets it settle, and reads its RSS. */
export async function bareNodeRssKiB(node: string, settleMs: number): Promise<number> {
  const child: ChildProcess = spawn(node, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: cleanEnv() });
  try {
    await sleep(settleMs);
    return await rssKiB(child.pid as number);
  } finally {
    child.kill('SIGKILL');
  }
}

/** The environment without NODE_EXTRA_CA_CERTS, which costs every Node start ~2.5x and +1.6 MiB. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  return env;
}
