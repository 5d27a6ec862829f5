// GetInfo's process lines as Dobby shows them: the container's init is /usr/libexec/DobbyInit followed by the
// command, whether dobbyd placed its init elsewhere (a bundle without one: /dev/.dobby-init) or gave it the
// options tini needs before the command (`--`, and `-s` in the host's pid namespace).

import { INIT_PATH_IN_CONTAINER } from '../../spec/options.ts';

/** dobbyd's placed init (launch-config's PLACED_INIT_NAME in a tmpfs of the container). */
const PLACED_INIT = /^(?:\/\S*)?\/\.dobby-init$/;

function isInit(path: string): boolean {
  return path === INIT_PATH_IN_CONTAINER || PLACED_INIT.test(path);
}

export function dobbyExecutable(executable: string): string {
  return PLACED_INIT.test(executable) ? INIT_PATH_IN_CONTAINER : executable;
}

/** `cmdline` is /proc/<pid>/cmdline with NULs as spaces (the trailing one too). */
export function dobbyCmdline(cmdline: string): string {
  const space = cmdline.indexOf(' ');
  const first = space < 0 ? cmdline : cmdline.slice(0, space);
  if (!isInit(first)) return cmdline;
  const rest = space < 0 ? '' : cmdline.slice(space + 1);
  return `${INIT_PATH_IN_CONTAINER} ${rest.replace(/^(?:-s )?-- /, '')}`;
}
