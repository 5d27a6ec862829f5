// Runs the shell yardsticks (bench/yardstick.sh), optionally inside the bench's network namespace;
// the figure is the script's own $EPOCHREALTIME measurement, so no Node spawn is in it.

import { join } from 'node:path';
import { run } from '../src/drivers/process.ts';

const SCRIPT = join(import.meta.dirname, 'yardstick.sh');

/** Runs one subcommand; returns its elapsed time in ms (timed subcommands) or 0. */
export async function yardstick(netns: string | null, args: readonly string[]): Promise<number> {
  const argv = ['bash', SCRIPT, ...args];
  const [file, ...rest] = netns === null ? argv : ['nsenter', `--net=/run/netns/${netns}`, '--', ...argv];
  const r = await run(file as string, rest);
  if (r.code !== 0) throw new Error(`yardstick ${args.slice(0, 3).join(' ')} … failed (${r.code}): ${r.stderr.trim()}`);
  const micros = Number(r.stdout.trim().split('\n').pop());
  return Number.isFinite(micros) ? micros / 1000 : 0;
}
