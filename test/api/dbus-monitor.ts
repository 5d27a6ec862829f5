// Watches a bus with dbus-monitor (a client this project did not write) and parses what it saw, in bus order.

import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Seen {
  readonly kind: 'signal' | 'method call' | 'method return' | 'error';
  readonly sender: string;
  readonly destination: string;
  readonly serial: number;
  readonly replySerial: number | null;
  readonly interface: string;
  readonly member: string;
  /** Argument values as dbus-monitor prints them: numbers, booleans and strings. */
  readonly args: (string | number | boolean)[];
}

function parse(text: string): Seen[] {
  const out: Seen[] = [];
  let current: { -readonly [K in keyof Seen]: Seen[K] } | null = null;
  for (const line of text.split('\n')) {
    const head = /^(signal|method call|method return|error) time=\S+ sender=(\S+) -> destination=(.+?) serial=(\d+)(.*)$/.exec(line);
    if (head !== null) {
      const rest = head[5] ?? '';
      current = {
        kind: head[1] as Seen['kind'], sender: head[2]!, destination: head[3]!, serial: Number(head[4]),
        replySerial: /reply_serial=(\d+)/.exec(rest) === null ? null : Number(/reply_serial=(\d+)/.exec(rest)![1]),
        interface: /interface=([^;\s]+)/.exec(rest)?.[1] ?? '',
        member: /member=([^;\s]+)/.exec(rest)?.[1] ?? '',
        args: [],
      };
      out.push(current);
      continue;
    }
    if (current === null) continue;
    const value = /^ {3}(int32|uint32|boolean|string|int64|uint64) (.*)$/.exec(line);
    if (value === null) continue;
    const [, type, raw] = value as unknown as [string, string, string];
    // dbus-monitor prints strings raw between quotes (no escaping; a newline continues the string).
    if (type === 'string') current.args.push(raw.startsWith('"') ? raw.slice(1, raw.endsWith('"') && raw.length > 1 ? -1 : undefined) : raw);
    else if (type === 'boolean') current.args.push(raw === 'true');
    else current.args.push(Number(raw));
  }
  return out;
}

export class DbusMonitor {
  readonly #child: ChildProcess;
  #text = '';

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.stdout?.on('data', (c: Buffer) => (this.#text += c.toString()));
  }

  /** Starts dbus-monitor in monitor mode and waits until it is attached. */
  static async start(address: string): Promise<DbusMonitor> {
    const child = spawn('dbus-monitor', ['--address', address, '--monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const monitor = new DbusMonitor(child);
    for (let i = 0; i < 500 && !monitor.#text.includes('NameLost'); i++) await sleep(10);
    return monitor;
  }

  /** What was seen so far, up to the last whole line. */
  get messages(): Seen[] {
    return parse(this.#text.slice(0, this.#text.lastIndexOf('\n') + 1));
  }

  /**
   * Polls until `predicate` holds for what was seen so far. dbus-monitor's stdio buffer can cut the
   * printout of a message in two writes, and a message read between them lacks its last arguments:
   * so a match is taken only once it still holds a moment later (the rest follows at once).
   */
  async until(predicate: (seen: Seen[]) => boolean, timeoutMs = 15_000): Promise<Seen[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (predicate(this.messages)) {
        await sleep(30);
        const settled = this.messages;
        if (predicate(settled)) return settled;
      }
      if (Date.now() > end) throw new Error(`dbus-monitor did not see what was expected in ${timeoutMs} ms:\n${this.#text.slice(-3000)}`);
      await sleep(20);
    }
  }

  stop(): void {
    this.#child.kill('SIGTERM');
  }
}

/** The Dobby ctrl1 signals and the replies to calls from `client`, in bus order, for container `id`. */
export function dobbyTrace(seen: readonly Seen[], id: string): string[] {
  const callSerials = new Map<string, string>();
  const out: string[] = [];
  for (const m of seen) {
    if (m.kind === 'method call' && m.interface === 'org.rdk.dobby.ctrl1' && m.args.includes(id)) callSerials.set(`${m.sender}#${m.serial}`, m.member);
    else if (m.kind === 'method return' && m.replySerial !== null && callSerials.has(`${m.destination}#${m.replySerial}`)) {
      out.push(`reply:${callSerials.get(`${m.destination}#${m.replySerial}`)}`);
    } else if (m.kind === 'signal' && m.interface === 'org.rdk.dobby.ctrl1' && m.args[1] === id) {
      out.push(m.member === 'StoppedWithStatus' ? `StoppedWithStatus:${String(m.args[2])}` : m.member);
    }
  }
  return out;
}
