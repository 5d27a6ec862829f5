// conmon's runtime for a container started as it is created: a script in the monitor's state dir
// that runs the runtime's `run --detach` where conmon asks for `create`.
//
// Why: with no hook between create and start (no selected plugin has a preStart hook), `create`
// then `start` is two runtime processes for what `run --detach` does in one; each costs crun's
// dynamic loading and its state reads (~2-3 ms of CPU here, and a round trip through the daemon in between). conmon only
// knows `create` (it runs `<runtime> <--runtime-arg...> create --bundle B --pid-file P ... ID`), and
// crun and runc take the same options for both. The runtime's own path comes as the first
// argument (conmon's first --runtime-arg), so one script serves every runtime binary.

import { existsSync, mkdirSync } from 'node:fs';
import { replaceSmallFile } from '../small-file.ts';

const SHELL = '/bin/sh';

/** POSIX sh: the first argument equal to `create` is the command (the global options we pass are one word each). */
const SCRIPT = `#!${SHELL}
# Written by dobbyd: conmon runs this as its OCI runtime to start a container as it is created.
runtime=$1
shift
done=
for arg in "$@"; do
  shift
  if [ -z "$done" ] && [ "$arg" = create ]; then
    set -- "$@" run --detach
    done=1
  else
    set -- "$@" "$arg"
  fi
done
exec "$runtime" "$@"
`;

/** Dirs this daemon wrote the script into: written fresh once (whatever was there), then only if it went. */
const written = new Set<string>();

/**
 * The script's path under `dir` (owner-only), or null where it cannot run (no /bin/sh) or be
 * written: the container is then created and started in two steps.
 */
export function runDetachedScript(dir: string): string | null {
  const path = `${dir}/exec/run-detached`;
  if (written.has(dir) && existsSync(path)) return path;
  try {
    if (!existsSync(SHELL)) return null;
    mkdirSync(`${dir}/exec`, { recursive: true, mode: 0o700 });
    replaceSmallFile(path, SCRIPT, 0o700);
    written.add(dir);
    return path;
  } catch {
    return null;
  }
}
