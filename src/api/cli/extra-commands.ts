// Commands beyond DobbyTool: `run` (start, wait, exit with the container's status), `events`
// (stream lifecycle events) and `stats` (resource usage).

import { CTRL_IFACE } from '../dbus/names.ts';
import { withContainer, type Command } from './context.ts';
import type { EventSignal } from './dobby-proxy.ts';
import { EXIT } from './output.ts';
import { parseStartArgs } from './start-args.ts';
import { statsLines, type StatsDoc } from './stats-format.ts';

/** Shell convention for a raw wait status: the exit code, or 128 + the killing signal. */
export function exitCodeOfStatus(status: number): number {
  const signal = status & 0x7f;
  return signal === 0 ? (status >> 8) & 0xff : 128 + signal;
}

const run: Command = {
  name: 'run',
  usage: 'run [options...] <id> <specfile/bundlepath> [command]',
  help: "Starts a container, waits for it to stop and exits with its exit code (128+N if signal N killed it). Ctrl-C stops it (twice: with SIGKILL). Exit 125 if it could not start.",
  options: '  --westeros-socket    Mount the specified westeros socket into the container\n  --envvar             Add an environment variable for this container',
  trailingCommand: true,
  async run(ctx, args) {
    const parsed = await parseStartArgs(args);
    if (!parsed.ok) {
      ctx.out.error(parsed.error);
      return EXIT.USAGE;
    }
    const a = parsed.args;
    const proxy = await ctx.proxy();
    let resolveStatus!: (status: number) => void;
    const status = new Promise<number>((resolve) => (resolveStatus = resolve));
    // Subscribed (and acknowledged by the bus) before the start: a container that exits at once is not missed.
    const off = await proxy.subscribe(CTRL_IFACE, (member, body) => {
      if (member === 'StoppedWithStatus' && body[1] === a.id) resolveStatus(body[2] as number);
    });
    let cd = -1;
    let interrupts = 0;
    const onSignal = (): void => {
      interrupts++;
      if (cd >= 0) void proxy.stop(cd, interrupts > 1).catch(() => undefined);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      cd = a.kind === 'bundle'
        ? await proxy.startFromBundle(a.id, a.target, a.command, a.displaySocket, a.env)
        : await proxy.startFromSpec(a.id, a.target, a.command, a.displaySocket, a.env);
      if (cd < 0) {
        ctx.out.error(`failed to start container '${a.id}'`);
        return 125;
      }
      if (interrupts > 0) onSignal();
      const raw = await status;
      const code = exitCodeOfStatus(raw);
      ctx.out.result({ id: a.id, descriptor: cd, status: raw, exitCode: code });
      return code;
    } finally {
      off();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

function eventLine(e: EventSignal): string {
  const parts = [new Date(e.timestampMs).toISOString(), e.event, e.id, `descriptor=${e.descriptor}`];
  if (e.event === 'exited') {
    parts.push(e.signal !== 0 ? `signal=${e.signal}` : `exitCode=${e.exitCode}`, `status=${e.status}`);
    if (e.oomKilled) parts.push('oomKilled=true');
  }
  if (e.event === 'start-failed') parts.push(`error=${e.errorCode}`, JSON.stringify(e.message));
  // A plugin hook run: the plugin travels as the error code, "<hook> ok|failed in N ms[: why]" as the message.
  if (e.event === 'hook') parts.push(`plugin=${e.errorCode}`, e.message);
  return parts.join(' ');
}

const events: Command = {
  name: 'events',
  usage: 'events [--json]',
  help: 'Prints container lifecycle events as they happen, one line each (created, started, paused, resumed, exited, start-failed, deleted), until interrupted',
  async run(ctx) {
    const proxy = await ctx.proxy();
    const write = (text: string): void => void process.stdout.write(`${text}\n`);
    const off = await proxy.subscribeEvents((e) => {
      if (!ctx.out.json) {
        write(eventLine(e));
        return;
      }
      const { exitCode, signal, status, oomKilled, errorCode, message, ...base } = e;
      write(JSON.stringify({
        ...base,
        ...(e.event === 'exited' ? { exitCode: signal !== 0 ? null : exitCode, signal: signal === 0 ? null : signal, status, oomKilled } : {}),
        ...(e.event === 'start-failed' ? { errorCode, message } : {}),
        ...(e.event === 'hook' ? { plugin: errorCode, message } : {}),
      }));
    });
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    off();
    return EXIT.OK;
  },
};

const stats: Command = {
  name: 'stats',
  usage: 'stats <id>',
  help: 'Prints the cpu time, memory usage (peak, limit) and number of processes (limit) of a container, from its cgroups',
  async run(ctx, args) {
    if (args.length < 1) {
      ctx.out.error('must provide at least one arg; <id>');
      return EXIT.USAGE;
    }
    return withContainer(ctx, args[0]!, async (cd) => {
      const text = await (await ctx.proxy()).stats(cd);
      if (text === '') {
        ctx.out.error('failed to get container stats');
        return EXIT.FAILED;
      }
      const doc = JSON.parse(text) as StatsDoc;
      for (const line of statsLines(doc)) ctx.out.line(line);
      ctx.out.result({ ...doc });
      return EXIT.OK;
    });
  },
};

export const EXTRA_COMMANDS: readonly Command[] = [run, events, stats];
