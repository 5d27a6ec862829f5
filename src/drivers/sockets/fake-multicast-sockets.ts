// A fake multicast socket driver: real descriptors (of /dev/null) without a network, and failures on demand.

import { closeSync, openSync } from 'node:fs';
import type { MulticastGroup, MulticastSocketDriver, OpenSocket } from './types.ts';

export interface FakeMulticastSocketsOptions {
  /** Called before each open (0-based count over both kinds); an error it returns fails that open. */
  readonly failOpen?: (n: number, kind: OpenSocket['kind'], group?: MulticastGroup) => Error | undefined;
}

export class FakeMulticastSockets implements MulticastSocketDriver {
  readonly #options: FakeMulticastSocketsOptions;
  #opens = 0;
  /** Every socket handed out, in order, closed or not. */
  readonly sockets: OpenSocket[] = [];

  constructor(options: FakeMulticastSocketsOptions = {}) {
    this.#options = options;
  }

  /** The sockets handed out and not yet closed. */
  get open(): OpenSocket[] {
    return this.sockets.filter((s) => !s.closed);
  }

  openServer(group: MulticastGroup): Promise<OpenSocket> {
    return this.#open('server', group);
  }

  openClient(): Promise<OpenSocket> {
    return this.#open('client');
  }

  async #open(kind: OpenSocket['kind'], group?: MulticastGroup): Promise<OpenSocket> {
    const n = this.#opens++;
    const failure = this.#options.failOpen?.(n, kind, group);
    if (failure !== undefined) throw failure;
    // A client's "ephemeral port" tells the opens apart, as the kernel's would.
    const local = group === undefined ? { address: '0.0.0.0', port: 40000 + n } : { address: group.ip, port: group.port };
    const fd = openSync('/dev/null', 'r');
    let closed = false;
    const socket: OpenSocket = {
      kind, fd, local,
      get closed() {
        return closed;
      },
      close() {
        if (closed) return;
        closed = true;
        closeSync(fd);
      },
    };
    this.sockets.push(socket);
    return socket;
  }
}
