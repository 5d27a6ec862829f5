// The appservicesrdk plugin's data (Dobby's rdkPlugins.appservicesrdk.data): which of the host's
// "local services" ports the container may reach.

import { readDataObject, type Parsed } from '../data-reader.ts';

export const APPSERVICES_PLUGIN = 'appservicesrdk';

/** `local-services-N` → its port (Dobby's table: 5 is 9009, not 9005). */
const SET_MENU_PORTS: Readonly<Record<string, number>> = { 1: 9001, 2: 9002, 3: 9003, 4: 9004, 5: 9009 };
/** local-services-1 also opens this one. */
const LS1_EXTRA_PORT = 8008;
/** Dobby ignores (with a warning) additional ports below this. */
const MIN_ADDITIONAL_PORT = 128;

export interface AppServicesData {
  /** The ports opened, deduplicated, the set-menu's first. */
  readonly ports: readonly number[];
  /** The set-menu's port (named `as` in /etc/services), null without one. */
  readonly asPort: number | null;
}

export function parseAppServicesData(data: unknown): Parsed<AppServicesData> {
  const { root, warnings } = readDataObject(APPSERVICES_PLUGIN, data, ['setMenu', 'additionalPorts', 'connLimit'], 'give {"setMenu": "local-services-1"} and/or {"additionalPorts": [port, ...]}');
  const ports: number[] = [];
  let asPort: number | null = null;
  if (root.has('setMenu')) {
    const menu = root.string('setMenu', null, 'a set menu ending in local-services-1 to local-services-5');
    const m = /local-services-([1-5])$/i.exec(menu);
    if (m === null) throw root.error('setMenu', `is ${JSON.stringify(menu)}; it must end in local-services-1 to local-services-5`);
    asPort = SET_MENU_PORTS[m[1]!]!;
    ports.push(asPort);
    if (m[1] === '1') ports.push(LS1_EXTRA_PORT);
  }
  for (const [i, child] of root.items('additionalPorts', 'TCP ports').entries()) {
    if (typeof child !== 'number' || !Number.isInteger(child) || child < 0 || child > 65535) {
      throw root.error(`additionalPorts[${i}]`, `is ${JSON.stringify(child)}; it must be a TCP port, 0 to 65535`);
    }
    if (child < MIN_ADDITIONAL_PORT) warnings.push(`${APPSERVICES_PLUGIN}.data.additionalPorts[${i}] is ${child}; ports below ${MIN_ADDITIONAL_PORT} are ignored (as Dobby)`);
    else if (!ports.includes(child)) ports.push(child);
  }
  root.int32('connLimit', 0, { min: 0, max: 4294967295, what: 'connections (Dobby reads it but applies no limit)' });
  return { data: { ports, asPort }, warnings };
}
