// The interface both port drivers (nat, builtin) implement, and what they are told about the container.

import type { ActivePort, PortDriverName } from '../../ports/types.ts';

export { PORT_DRIVER_NAMES, type ActivePort, type PortDriverName } from '../../ports/types.ts';

/** Where a container's side of a port is: its network namespace and its addresses (from the networking plugin). */
export interface PortTarget {
  readonly containerId: string;
  /** The container's network namespace file, e.g. /proc/<pid>/ns/net or /run/netns/<name>. */
  readonly netnsPath: string;
  /** The container's own addresses, null when it has none of that family (e.g. network mode none). */
  readonly ipv4: string | null;
  readonly ipv6: string | null;
}

export interface PortDriver {
  readonly name: PortDriverName;
  /**
   * Starts forwarding. All or nothing: on failure everything this call set up is undone before it
   * rejects (with a PortError naming the port and what would be right).
   */
  add(port: ActivePort, target: PortTarget): Promise<void>;
  /** Stops forwarding; open connections through a userland proxy are closed. Idempotent. */
  remove(port: ActivePort): Promise<void>;
  /** Removes every port and everything shared (chains, helpers). */
  close(): Promise<void>;
  /** Takes over the ports an earlier daemon left (live containers), removing the rest (kernel-state drivers only). */
  recover?(isLive: (containerId: string) => boolean): Promise<ActivePort[]>;
  /** Forgets the ports but leaves them working, for a daemon that will recover them (kernel-state drivers only). */
  detach?(): Promise<void>;
}

/** Test hook: called before each step of an add; throwing there makes the add fail half-way. */
export type StepHook = (step: string, port: ActivePort) => void | Promise<void>;
