// route_localnet=1 on the host interface towards a container, shared by everything in one namespace that needs it, restored with its last user.

import { mustRunIn, runIn, type HostNetns } from './netns-exec.ts';
import { PortError } from '../../ports/port-errors.ts';

type Undo = () => Promise<void>;

export interface LocalnetUse {
  readonly undo: Undo;
  readonly dev: string;
  /** The interface's value before the first user set it (what the last user restores). */
  readonly previous: string;
}

export class RouteLocalnet {
  readonly #netns: HostNetns;
  readonly #devs = new Map<string, { previous: string; users: number }>();

  constructor(netns: HostNetns) {
    this.#netns = netns;
  }

  /** Sets it on the interface that routes to `address` (IPv4). */
  async use(address: string): Promise<LocalnetUse> {
    const route = await mustRunIn(this.#netns, 'ip', ['-4', 'route', 'get', address]);
    const dev = /\bdev (\S+)/.exec(route)?.[1];
    if (dev === undefined || dev === 'lo') {
      throw new PortError('unsupported', `the container address ${address} is routed through ${dev ?? 'no interface'} on the host; it must be behind a bridge or veth`);
    }
    let entry = this.#devs.get(dev);
    if (entry === undefined) {
      const previous = (await mustRunIn(this.#netns, 'sysctl', ['-n', `net/ipv4/conf/${dev}/route_localnet`])).trim();
      if (previous !== '1') await mustRunIn(this.#netns, 'sysctl', ['-q', '-w', `net/ipv4/conf/${dev}/route_localnet=1`]);
      entry = { previous, users: 0 };
      this.#devs.set(dev, entry);
    }
    entry.users++;
    return { undo: this.#undo(dev, entry), dev, previous: entry.previous };
  }

  /** A user found in rules an earlier daemon left, with the value it recorded there. */
  adopt(dev: string, previous: string): Undo {
    const entry = this.#devs.get(dev) ?? { previous, users: 0 };
    entry.users++;
    this.#devs.set(dev, entry);
    return this.#undo(dev, entry);
  }

  /** Forgets every user without restoring (the rules stay for the next daemon). */
  forget(): void {
    this.#devs.clear();
  }

  #undo(dev: string, entry: { previous: string; users: number }): Undo {
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      if (--entry.users > 0) return;
      if (this.#devs.get(dev) === entry) this.#devs.delete(dev);
      // A container's own namespace gets a tracker of its own: it goes with the last use.
      if (this.#devs.size === 0 && shared.get(this.#netns ?? '') === this) shared.delete(this.#netns ?? '');
      if (entry.previous !== '1') await runIn(this.#netns, 'sysctl', ['-q', '-w', `net/ipv4/conf/${dev}/route_localnet=${entry.previous}`]);
    };
  }
}

const shared = new Map<string, RouteLocalnet>();

/** The one tracker of a namespace (nat ports and containerToHost rules both set the same interfaces). */
export function routeLocalnetFor(netns: HostNetns): RouteLocalnet {
  const key = netns ?? '';
  let tracker = shared.get(key);
  if (tracker === undefined) {
    tracker = new RouteLocalnet(netns);
    shared.set(key, tracker);
  }
  return tracker;
}
