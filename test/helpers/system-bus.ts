// A private dbus-daemon configured like Debian's system bus (default deny) with dobby-ts's policy file included.

import { join } from 'node:path';
import { chmodSync } from 'node:fs';
import { startPrivateBus, type PrivateBus } from '../../src/drivers/dbus/bus-address.ts';

export const POLICY = join(import.meta.dirname, '..', '..', 'etc', 'dbus-1', 'system.d', 'org.rdk.dobby.conf');

/** The default policy of Debian's /usr/share/dbus-1/system.conf, then our file, as the system bus loads it. */
export function systemLikeConfig(socket: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=${socket}</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <include>${POLICY}</include>
</busconfig>
`;
}

/** Starts such a bus in `dir` (made reachable for other users: they are who the policy is tested with). */
export async function startSystemLikeBus(dir: string): Promise<PrivateBus> {
  const bus = await startPrivateBus(dir, { configFor: (socket) => systemLikeConfig(socket) });
  chmodSync(dir, 0o755);
  return bus;
}
