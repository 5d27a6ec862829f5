// What nat networking needs from the host: br_netfilter (so bridged traffic meets the firewall) and
// ebtables (the link-layer checks against forged MACs and ARP replies). Both are warnings: containers
// that do not use nat, or nat without inter-container rules, run without them.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findExecutable, type Lookup } from './binaries.ts';
import type { HostProblem } from './problem.ts';

/** br_netfilter's switch, per network namespace on newer kernels: this one is dobbyd's. */
export function brNetfilterProblem(procSys = '/proc/sys'): HostProblem | undefined {
  if (existsSync(join(procSys, 'net', 'bridge', 'bridge-nf-call-iptables'))) return undefined;
  return {
    code: 'br-netfilter-missing',
    what: 'the kernel module br_netfilter is not loaded: traffic between nat containers on the bridge never meets iptables, so nat containers with interContainer rules are refused',
    fix: 'modprobe br_netfilter, and add br_netfilter to /etc/modules-load.d/dobby.conf so it is loaded at boot (dobbyd sets net.bridge.bridge-nf-call-iptables=1 itself)',
    fatal: false,
  };
}

export function ebtablesProblem(lookup: Lookup): HostProblem | undefined {
  if (findExecutable('ebtables', lookup) !== undefined && findExecutable('ebtables-restore', lookup) !== undefined) return undefined;
  return {
    code: 'ebtables-missing',
    what: 'ebtables (with ebtables-restore) is not on the PATH: nat containers cannot be started (the networking plugin checks forged MAC addresses and ARP replies with it)',
    fix: 'apt-get install ebtables',
    fatal: false,
  };
}
