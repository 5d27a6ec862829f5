// What this install (a checkout or a release tree, src/install-layout.ts) lacks on the host: its init, the
// mount target spec containers see it at, and the D-Bus policy that lets it own org.rdk.dobby on the system bus.
import { existsSync } from 'node:fs';
import { INIT_PATH_IN_CONTAINER } from '../spec/options.ts';
import type { InstallLayout } from '../install-layout.ts';
import { isExecutableFile } from './binaries.ts';
import type { HostProblem } from './problem.ts';

/** Where dbus-daemon and dbus-broker read system bus policies (packages use the second, admins the first). */
export const DBUS_POLICY_DIRS = ['/etc/dbus-1/system.d', '/usr/share/dbus-1/system.d'];
const POLICY_FILE = 'org.rdk.dobby.conf';

export interface InstallCheckOptions {
  /** dobbyd serves on the system bus (neither --private-bus nor --dbus-address). */
  readonly systemBus: boolean;
  readonly exists?: (path: string) => boolean;
  readonly isExecutable?: (path: string) => boolean;
}

export function installProblems(layout: InstallLayout, options: InstallCheckOptions): HostProblem[] {
  const exists = options.exists ?? existsSync;
  const isExecutable = options.isExecutable ?? isExecutableFile;
  const problems: HostProblem[] = [];
  if (!isExecutable(layout.containerInit)) {
    problems.push({
      code: 'init-missing',
      what: `the containers' init ${layout.containerInit} is missing or not executable: spec containers cannot start`,
      fix: layout.initFix,
      fatal: true,
    });
  }
  if (!exists(INIT_PATH_IN_CONTAINER)) {
    problems.push({
      code: 'dobbyinit-missing',
      what: `${INIT_PATH_IN_CONTAINER} does not exist: spec containers see the host's /usr with their init mounted there, ` +
        'and crun would create an empty file in its place',
      fix: `install -D -m 0755 ${layout.containerInit} ${INIT_PATH_IN_CONTAINER}`,
      fatal: false,
    });
  }
  if (options.systemBus && !DBUS_POLICY_DIRS.some((dir) => exists(`${dir}/${POLICY_FILE}`))) {
    problems.push({
      code: 'dbus-policy-missing',
      what: `no D-Bus policy for org.rdk.dobby (${DBUS_POLICY_DIRS.map((d) => `${d}/${POLICY_FILE}`).join(' or ')}): ` +
        'the system bus refuses dobbyd its name',
      fix: `install -m 0644 ${layout.dbusPolicy} /etc/dbus-1/system.d/${POLICY_FILE} (dbus-broker: then reload the bus)`,
      fatal: false,
    });
  }
  return problems;
}
