// The CLI's view of the daemon: typed wrappers of Dobby's methods and a way to wait for its signals.

import { ADMIN_IFACE, CTRL_IFACE, DEBUG_IFACE, DOBBY_OBJECT, DOBBY_SERVICE, EVENT_SIGNAL, EVENTS_IFACE, STATS_IFACE } from '../dbus/names.ts';
import type { WireMessage, WireValue } from '../dbus/wire.ts';
import type { BusClient } from './bus-client.ts';

export interface Container {
  readonly descriptor: number;
  readonly id: string;
}

/** An events1.Event signal, decoded. */
export interface EventSignal {
  readonly descriptor: number;
  readonly id: string;
  readonly event: string;
  readonly timestampMs: number;
  readonly exitCode: number;
  readonly signal: number;
  readonly status: number;
  readonly oomKilled: boolean;
  readonly errorCode: string;
  readonly message: string;
}

export class DobbyProxy {
  readonly client: BusClient;

  constructor(client: BusClient) {
    this.client = client;
  }

  async #call(iface: string, member: string, signature = '', body: readonly WireValue[] = [], timeoutMs?: number): Promise<readonly WireValue[]> {
    const reply = await this.client.call({
      destination: DOBBY_SERVICE, path: DOBBY_OBJECT, interface: iface, member, signature, body,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    return reply.body;
  }

  async #bool(iface: string, member: string, signature: string, body: readonly WireValue[]): Promise<boolean> {
    return (await this.#call(iface, member, signature, body))[0] === true;
  }

  async list(): Promise<Container[]> {
    const [descriptors, ids] = (await this.#call(CTRL_IFACE, 'List')) as [number[], string[]];
    return descriptors.map((descriptor, i) => ({ descriptor, id: ids[i] ?? '' }));
  }

  /** DobbyTool's lookup: the id, or the descriptor written in decimal; -1 when not found. */
  async resolve(idOrDescriptor: string): Promise<number> {
    const found = (await this.list()).find((c) => String(c.descriptor) === idOrDescriptor || c.id === idOrDescriptor);
    return found?.descriptor ?? -1;
  }

  async startFromBundle(id: string, bundle: string, command: string, displaySocket: string, env: readonly string[]): Promise<number> {
    const [cd] = await this.#call(CTRL_IFACE, 'StartFromBundle', 'ssahssasuu', [id, bundle, [], command, displaySocket, env, 0, 0], 60_000);
    return cd as number;
  }

  async startFromSpec(id: string, spec: string, command: string, displaySocket: string, env: readonly string[]): Promise<number> {
    const [cd] = await this.#call(CTRL_IFACE, 'StartFromSpec', 'ssahssas', [id, spec, [], command, displaySocket, env], 60_000);
    return cd as number;
  }

  stop(cd: number, force: boolean): Promise<boolean> { return this.#bool(CTRL_IFACE, 'Stop', 'ib', [cd, force]); }
  pause(cd: number): Promise<boolean> { return this.#bool(CTRL_IFACE, 'Pause', 'i', [cd]); }
  resume(cd: number): Promise<boolean> { return this.#bool(CTRL_IFACE, 'Resume', 'i', [cd]); }
  hibernate(cd: number, options: string): Promise<boolean> { return this.#bool(CTRL_IFACE, 'Hibernate', 'is', [cd, options]); }
  wakeup(cd: number): Promise<boolean> { return this.#bool(CTRL_IFACE, 'Wakeup', 'i', [cd]); }
  mount(cd: number, source: string, destination: string, flags: readonly string[], data: string): Promise<boolean> {
    return this.#bool(CTRL_IFACE, 'Mount', 'issass', [cd, source, destination, flags, data]);
  }
  unmount(cd: number, path: string): Promise<boolean> { return this.#bool(CTRL_IFACE, 'Unmount', 'is', [cd, path]); }
  annotate(cd: number, key: string, value: string): Promise<boolean> { return this.#bool(CTRL_IFACE, 'Annotate', 'iss', [cd, key, value]); }
  removeAnnotation(cd: number, key: string): Promise<boolean> { return this.#bool(CTRL_IFACE, 'RemoveAnnotation', 'is', [cd, key]); }
  exec(cd: number, options: string, command: string): Promise<boolean> { return this.#bool(CTRL_IFACE, 'Exec', 'iss', [cd, options, command]); }
  async state(cd: number): Promise<number> { return (await this.#call(CTRL_IFACE, 'GetState', 'i', [cd]))[0] as number; }
  async info(cd: number): Promise<string> { return (await this.#call(CTRL_IFACE, 'GetInfo', 'i', [cd]))[0] as string; }
  /** dobby-ts's stats1.GetStats: JSON text, "" for an unknown descriptor. */
  async stats(cd: number): Promise<string> { return (await this.#call(STATS_IFACE, 'GetStats', 'i', [cd]))[0] as string; }
  setLogLevel(level: number): Promise<boolean> { return this.#bool(ADMIN_IFACE, 'SetLogLevel', 'i', [level]); }
  setAIDbusAddress(privateBus: boolean, address: string): Promise<boolean> { return this.#bool(ADMIN_IFACE, 'SetAIDbusAddress', 'bs', [privateBus, address]); }
  async shutdown(): Promise<void> { await this.#call(ADMIN_IFACE, 'Shutdown', '', [], 120_000); }
  async spec(cd: number): Promise<string> { return (await this.#call(DEBUG_IFACE, 'GetSpec', 'i', [cd]))[0] as string; }
  createBundle(id: string, spec: string): Promise<boolean> { return this.#bool(DEBUG_IFACE, 'CreateBundle', 'ss', [id, spec]); }

  /** Subscribes to the signals of one interface on the Dobby object; resolves once the bus has the rule. */
  async subscribe(iface: string, listener: (member: string, body: readonly WireValue[], message: WireMessage) => void): Promise<() => void> {
    const off = this.client.onSignal((m) => {
      if (m.path === DOBBY_OBJECT && m.interface === iface && m.member !== undefined) listener(m.member, m.body, m);
    });
    await this.client.addMatch(`type='signal',path='${DOBBY_OBJECT}',interface='${iface}'`);
    return off;
  }

  subscribeEvents(listener: (event: EventSignal) => void): Promise<() => void> {
    return this.subscribe(EVENTS_IFACE, (member, b) => {
      if (member !== EVENT_SIGNAL || b.length < 10) return;
      listener({
        descriptor: b[0] as number, id: b[1] as string, event: b[2] as string, timestampMs: Number(b[3] as bigint),
        exitCode: b[4] as number, signal: b[5] as number, status: b[6] as number, oomKilled: b[7] as boolean,
        errorCode: b[8] as string, message: b[9] as string,
      });
    });
  }
}
