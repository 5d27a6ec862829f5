// Clears O_NONBLOCK on a descriptor libuv made non-blocking, so a process it is handed to gets blocking I/O.
//
// Node has no fcntl(2). O_NONBLOCK belongs to the open file description, which every copy of the
// descriptor shares, and libuv clears it on a child's stdin/stdout/stderr when it spawns one. So
// spawning `true` with the descriptor as its stdin clears it for this process and for every later
// copy (a container's). The result is read back from /proc/self/fdinfo, so a libuv that stops
// doing this fails loudly instead of handing out non-blocking sockets. (node:wasi's
// fd_fdstat_set_flags would do the same in-process, but prints an ExperimentalWarning into the
// daemon's JSON log.)

import { readFile } from 'node:fs/promises';
import { DobbyError } from '../../errors.ts';
import { run } from '../process.ts';

const O_NONBLOCK = 0o4000;

/** The descriptor's file status flags (Linux: /proc/self/fdinfo). */
export async function fdStatusFlags(fd: number): Promise<number> {
  const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8');
  const flags = /^flags:\s+([0-7]+)$/m.exec(info)?.[1];
  if (flags === undefined) throw new DobbyError('INTERNAL', `/proc/self/fdinfo/${fd} has no flags line`);
  return Number.parseInt(flags, 8);
}

export async function isNonBlocking(fd: number): Promise<boolean> {
  return ((await fdStatusFlags(fd)) & O_NONBLOCK) !== 0;
}

/** Makes `fd`'s open file description blocking; `what` names it in errors. */
export async function makeBlocking(fd: number, what: string): Promise<void> {
  if (!(await isNonBlocking(fd))) return;
  const r = await run('true', [], { stdio: [fd, 'ignore', 'ignore'], timeoutMs: 10_000 }).catch((err: unknown) => {
    throw new DobbyError('HOST_UNSUITABLE', `cannot make ${what} blocking: starting 'true' failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  });
  if (r.code !== 0) throw new DobbyError('HOST_UNSUITABLE', `cannot make ${what} blocking: 'true' exited with ${r.code ?? r.signal}`);
  if (await isNonBlocking(fd)) {
    throw new DobbyError('INTERNAL',
      `${what} is still non-blocking after a child inherited it as stdin: this Node.js (${process.version}) no longer clears O_NONBLOCK ` +
      'on a child\'s stdio, which src/drivers/sockets/blocking-fd.ts relies on');
  }
}
