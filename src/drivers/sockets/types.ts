// The multicast socket driver's interface: UDP sockets as open kernel descriptors to hand to a container.

/** An IPv4 multicast group and UDP port, e.g. 239.255.255.250:1900 (SSDP). */
export interface MulticastGroup {
  readonly ip: string;
  readonly port: number;
}

export interface OpenSocket {
  readonly kind: 'server' | 'client';
  /**
   * The descriptor in this process. It has FD_CLOEXEC set; handing it to a child through spawn's
   * stdio (as conmon's --preserve-fds is fed) dups it without the flag. Blocking (no O_NONBLOCK),
   * as Dobby's sockets are. Valid until close().
   */
  readonly fd: number;
  /** The local address it is bound to: the group and port of a server, an ephemeral port of a client. */
  readonly local: { readonly address: string; readonly port: number };
  readonly closed: boolean;
  /** Releases this process's descriptor at once (a container keeps its own copy). Idempotent. */
  close(): void;
}

export interface MulticastSocketDriver {
  /**
   * A UDP socket bound to the group's address and port with SO_REUSEADDR (so several containers, or
   * a host service, may listen on the same group) and joined to the group on the interface the
   * kernel routes the group to. Nothing in this process reads from it.
   */
  openServer(group: MulticastGroup): Promise<OpenSocket>;
  /** A UDP socket on an ephemeral port for sending to multicast groups, multicast TTL 1. */
  openClient(): Promise<OpenSocket>;
}
