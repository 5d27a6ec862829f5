// Sends datagrams to Unix datagram sockets (journald's native socket, syslog's /dev/log) through native/unixdgram.

import { constants } from 'node:os';
import { loadNativeAddon } from './native-addon.ts';

interface UnixDgramAddon {
  sendDatagram(path: string, data: Buffer): number;
}

let addon: UnixDgramAddon | null = null;

/** Loads the addon now (so a daemon asked for journald or syslog fails at start, not at its first line). */
export function loadUnixDatagram(): void {
  addon ??= loadNativeAddon<UnixDgramAddon>('unixdgram');
}

/** Sends one datagram; returns null, or the error's name (ENOENT: nobody listens there; EAGAIN: the receiver is full). */
export function sendDatagram(path: string, data: Buffer): string | null {
  addon ??= loadNativeAddon<UnixDgramAddon>('unixdgram');
  const errno = addon.sendDatagram(path, data);
  if (errno === 0) return null;
  return Object.entries(constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
}
