// Reads our own rules back from iptables-save text (rebuild after a restart, never restore): tokens, tags, ports.

import type { Family } from '../../ports/port-spec.ts';

/** Splits an iptables-save rule line into arguments, honouring its double quotes. */
export function tokens(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/** `-A CHAIN …` lines of one chain, as argument lists without the `-A CHAIN`. */
export function chainRules(save: string, chain: string): string[][] {
  const prefix = `-A ${chain} `;
  return save.split('\n').filter((l) => l.startsWith(prefix)).map((l) => tokens(l).slice(2));
}

export function valueAfter(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

/** `dobby-port id=N container=C[ localnet=DEV:V]` → its parts; null for rules that are not a port's. */
export function portTag(args: readonly string[]): { id: number; containerId: string; localnet: { dev: string; previous: string } | null } | null {
  const comment = valueAfter(args, '--comment');
  const m = comment === undefined ? null : /^dobby-port id=(\d+) container=(\S+)(?: localnet=(\S+):(\d+))?$/.exec(comment);
  if (m === null) return null;
  return { id: Number(m[1]), containerId: m[2]!, localnet: m[3] === undefined ? null : { dev: m[3], previous: m[4]! } };
}

/** What a recovered DNAT rule says: which port of which family goes where. */
export interface RecoveredDnat {
  readonly family: Family;
  readonly transport: 'tcp' | 'udp';
  readonly parentIP: string;
  readonly parentPort: number;
  readonly childIP: string;
  readonly childPort: number;
}

export function parseDnat(args: readonly string[], family: Family): RecoveredDnat | null {
  const transport = valueAfter(args, '-p');
  const dport = Number(valueAfter(args, '--dport'));
  const to = valueAfter(args, '--to-destination');
  if ((transport !== 'tcp' && transport !== 'udp') || !Number.isInteger(dport) || to === undefined) return null;
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(to);
  if (m === null) return null;
  const d = valueAfter(args, '-d');
  return { family, transport, parentIP: d === undefined ? '' : d.replace(/\/(32|128)$/, ''), parentPort: dport, childIP: m[1]!, childPort: Number(m[2]) };
}
