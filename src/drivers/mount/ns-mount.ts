// Mounts a host path into a running container's mount namespace (open_tree + setns + move_mount), and unmounts it.

import { stat } from 'node:fs/promises';
import { isAbsolute, posix } from 'node:path';
import { DobbyError } from '../../errors.ts';
import { run } from '../process.ts';
import { parseMountFlags } from './flags.ts';
import type { ContainerMounter, MountRequest, UnmountRequest } from '../../host-services.ts';

/** Syscall numbers the helper needs: open_tree, move_mount, setns, mount, umount2. */
const SYSCALLS: Readonly<Record<string, readonly [number, number, number, number, number]>> = {
  x64: [428, 429, 308, 165, 166],
  arm64: [428, 429, 268, 40, 39],
  riscv64: [428, 429, 268, 40, 39],
  arm: [428, 429, 375, 21, 52],
  ia32: [428, 429, 346, 21, 52],
};

/*
 * Node cannot call setns (it is multi-threaded) nor open_tree/move_mount, so a short perl program
 * (perl-base is on every Debian-based host) does it. A bind mount cannot cross mount namespaces;
 * a detached tree from open_tree can. The program opens the source tree and the container's root
 * before entering its namespace, then chroots into that root so the destination is resolved
 * inside the container only: no symlink or `..` in it can lead back out to the host.
 */
const HELPER = String.raw`
use strict; use warnings; use Fcntl;
my ($op, $pid, $src, $dst, $rec, $flags, $uid, $gid, $s_open_tree, $s_move_mount, $s_setns, $s_mount, $s_umount2) = @ARGV;
$_ += 0 for ($pid, $rec, $flags, $uid, $gid, $s_open_tree, $s_move_mount, $s_setns, $s_mount, $s_umount2);
open(my $ns, '<', "/proc/$pid/ns/mnt") or die "cannot open the mount namespace of pid $pid: $!\n";
opendir(my $root, "/proc/$pid/root") or die "cannot open the root of pid $pid: $!\n";
my ($tree, $isdir) = (-1, 1);
if ($op eq 'mount') {
  $isdir = -d $src ? 1 : 0;
  $tree = syscall($s_open_tree, -100, $src, 1 | 0x80000 | ($rec ? 0x8000 : 0));
  die "open_tree of '$src' failed: $!\n" if $tree < 0;
}
syscall($s_setns, fileno($ns), 0x20000) == 0 or die "cannot enter the mount namespace of pid $pid: $!\n";
chdir($root) or die "cannot change to the container root: $!\n";
chroot('.') or die "cannot chroot to the container root: $!\n";
chdir('/') or die "cannot change to /: $!\n";
if ($op eq 'mount') {
  if ($isdir) { mkdir($dst, 0755) or die "cannot create '$dst' in the container: $!\n"; }
  else { sysopen(my $f, $dst, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY, 0644) or die "cannot create '$dst' in the container: $!\n"; close($f); }
  my $mounted = 0;
  my $ok = eval {
    chown($uid, $gid, $dst);
    my $empty = '';
    syscall($s_move_mount, $tree, $empty, -100, $dst, 4) == 0 or die "cannot mount onto '$dst': $!\n";
    $mounted = 1;
    if ($flags != 0) {
      my $none = 0;
      syscall($s_mount, $none, $dst, $none, 0x20 | 0x1000 | $flags, $none) == 0 or die "cannot apply the mount flags to '$dst': $!\n";
    }
    1;
  };
  if (!$ok) {
    my $err = $@;
    syscall($s_umount2, $dst, 2) if $mounted;
    $isdir ? rmdir($dst) : unlink($dst);
    die $err;
  }
} else {
  syscall($s_umount2, $dst, 2) == 0 or die "cannot unmount '$dst': $!\n";
  if (-d $dst) { rmdir($dst) or warn "left the directory '$dst' in place: $!\n"; }
  else { unlink($dst) or warn "left the file '$dst' in place: $!\n"; }
}
`;

async function ownerOf(pid: number): Promise<{ uid: number; gid: number }> {
  const info = await stat(`/proc/${pid}`).catch(() => null);
  if (info === null) throw new DobbyError('ILLEGAL_STATE', `the container's process ${pid} is gone: is the container still running?`);
  return { uid: info.uid, gid: info.gid };
}

function checkPath(what: string, path: string): void {
  if (!isAbsolute(path) || path.includes('\0')) {
    throw new DobbyError('INVALID_ARGUMENT', `the ${what} '${path}' must be an absolute path`);
  }
  // However it is spelt ('//', '/.', '/tmp/..'): mounting the host's root, or unmounting the container's, is refused.
  if (posix.normalize(path) === '/') throw new DobbyError('INVALID_ARGUMENT', `the ${what} '${path}' must not be '/'`);
}

export function createNsMounter(options: { perl?: string; arch?: string } = {}): ContainerMounter {
  const perl = options.perl ?? 'perl';
  const arch = options.arch ?? process.arch;
  const numbers = (): readonly number[] => {
    const n = SYSCALLS[arch];
    if (n === undefined) throw new DobbyError('HOST_UNSUITABLE', `dynamic mounts are not supported on ${arch} (known: ${Object.keys(SYSCALLS).join(', ')})`);
    return n;
  };
  const helper = async (args: readonly (string | number)[]): Promise<void> => {
    const result = await run(perl, ['-e', HELPER, '--', ...args.map(String)], { timeoutMs: 10_000 }).catch((err: unknown) => {
      throw new DobbyError('HOST_UNSUITABLE', `cannot run ${perl} for the mount helper: ${String(err)}`, { cause: err });
    });
    if (result.code !== 0) {
      throw new DobbyError('RUNTIME_FAILED', result.stderr.trim() || `the mount helper failed (exit ${String(result.code ?? result.signal)})`, {
        verb: 'mount', exitStatus: result.code, stderr: result.stderr,
      });
    }
  };
  return {
    async mount(request) {
      checkPath('source', request.source);
      checkPath('destination', request.destination);
      const parsed = parseMountFlags(request.flags);
      if (!parsed.ok) throw new DobbyError('INVALID_ARGUMENT', parsed.reason);
      const source = await stat(request.source).catch(() => null);
      if (source === null) throw new DobbyError('INVALID_ARGUMENT', `the mount source '${request.source}' does not exist on the host`);
      const owner = await ownerOf(request.pid);
      const { recursive, remountFlags } = parsed.flags;
      await helper(['mount', request.pid, request.source, request.destination, recursive ? 1 : 0, remountFlags, owner.uid, owner.gid, ...numbers()]);
      return { ignoredFlags: parsed.flags.ignored };
    },
    async unmount(request) {
      checkPath('destination', request.destination);
      await ownerOf(request.pid);
      await helper(['unmount', request.pid, '', request.destination, 0, 0, 0, 0, ...numbers()]);
    },
  };
}
