// Introspection XML for the Dobby object (one arity per method: the long one) and the nodes above it.

import { buildInfo } from '../../version.ts';
import { DOBBY_OBJECT, EVENTS_IFACE } from './names.ts';
import { PROTOCOL, type Arg } from './protocol.ts';

const DOCTYPE = '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n';

const STANDARD = `  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect">
      <arg name="xml_data" type="s" direction="out"/>
    </method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
    <method name="GetMachineId">
      <arg name="machine_uuid" type="s" direction="out"/>
    </method>
  </interface>
  <interface name="org.freedesktop.DBus.Properties">
    <method name="Get">
      <arg name="interface_name" type="s" direction="in"/>
      <arg name="property_name" type="s" direction="in"/>
      <arg name="value" type="v" direction="out"/>
    </method>
    <method name="GetAll">
      <arg name="interface_name" type="s" direction="in"/>
      <arg name="props" type="a{sv}" direction="out"/>
    </method>
    <method name="Set">
      <arg name="interface_name" type="s" direction="in"/>
      <arg name="property_name" type="s" direction="in"/>
      <arg name="value" type="v" direction="in"/>
    </method>
  </interface>
`;

function args(list: readonly Arg[], direction: 'in' | 'out' | null): string {
  return list.map((x) => `      <arg name="${x.name}" type="${x.type}"${direction === null ? '' : ` direction="${direction}"`}/>\n`).join('');
}

/** `org.rdk.dobby.Version` (x.y.z) and `org.rdk.dobby.Commit`, as D-Bus introspection annotations. */
function versionAnnotations(): string {
  const { version, commit } = buildInfo();
  return `    <annotation name="org.rdk.dobby.Version" value="${version}"/>\n    <annotation name="org.rdk.dobby.Commit" value="${commit}"/>\n`;
}

function objectXml(): string {
  let xml = `${DOCTYPE}<node>\n${STANDARD}`;
  for (const [name, spec] of Object.entries(PROTOCOL)) {
    xml += `  <interface name="${name}">\n`;
    // The API's version on our own interface (Dobby's interfaces stay as Dobby has them): the build's version and commit.
    if (name === EVENTS_IFACE) xml += versionAnnotations();
    for (const [member, m] of Object.entries(spec.methods)) {
      const inner = args(m.inArgs, 'in') + args(m.outArgs, 'out');
      xml += inner === '' ? `    <method name="${member}"/>\n` : `    <method name="${member}">\n${inner}    </method>\n`;
    }
    for (const [member, s] of Object.entries(spec.signals)) {
      const inner = args(s.args, null);
      xml += inner === '' ? `    <signal name="${member}"/>\n` : `    <signal name="${member}">\n${inner}    </signal>\n`;
    }
    xml += '  </interface>\n';
  }
  return `${xml}</node>\n`;
}

let cached: string | null = null;

/** XML for `path`: the full description at the Dobby object, child nodes on the way to it, null elsewhere. */
export function introspectionXml(path: string): string | null {
  if (path === DOBBY_OBJECT) return (cached ??= objectXml());
  const prefix = path === '/' ? '/' : `${path}/`;
  if (!DOBBY_OBJECT.startsWith(prefix)) return null;
  const child = DOBBY_OBJECT.slice(prefix.length).split('/')[0];
  return `${DOCTYPE}<node>\n${STANDARD}  <node name="${child}"/>\n</node>\n`;
}
