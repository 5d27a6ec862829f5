// `dobby`: the command-line client of org.rdk.dobby, DobbyTool-compatible, plus run, events and --json.

import { busAddressFor } from '../../host/dbus-check.ts';
import { BusClient, DBusCallError } from './bus-client.ts';
import type { Command, CommandContext } from './context.ts';
import { DOBBY_COMMANDS } from './dobby-commands.ts';
import { DobbyProxy } from './dobby-proxy.ts';
import { EXTRA_COMMANDS } from './extra-commands.ts';
import { PORT_COMMANDS } from './port-commands.ts';
import { createOut, EXIT } from './output.ts';
import { versionLine } from '../../version.ts';

const COMMANDS: readonly Command[] = [...DOBBY_COMMANDS, ...EXTRA_COMMANDS, ...PORT_COMMANDS];

const USAGE = `Usage: dobby <option(s)> <cmd> [args...]
  Command-line client of the Dobby container daemon (org.rdk.dobby), DobbyTool-compatible.

  -h, --help                    Print this help and exit (dobby <cmd> --help: help on a command)
  -v, --verbose                 Show the D-Bus calls made (stderr)
  -V, --version                 Display this program's version number
  -a, --dbus-address=ADDRESS    The D-Bus address to talk to (default: $DBUS_SYSTEM_BUS_ADDRESS,
                                else the system bus)
      --json                    One JSON object per result on stdout, for scripts

Exit status: 0 success, 1 the daemon refused or failed, 2 bad arguments, 3 daemon not reachable;
run exits with the container's own exit code (128+N if killed by signal N).

Commands:
`;

function commandList(): string {
  return COMMANDS.map((c) => `  ${c.name.padEnd(16)}  ${c.usage}`).join('\n');
}

function commandHelp(c: Command): string {
  return `${c.usage}\n\n${c.help}\n${c.options === undefined ? '' : `\n${c.options}\n`}`;
}

/**
 * DobbyTool's matching: an exact name, else a unique prefix; several → ambiguous. A prefix that
 * names one of DobbyTool's own commands means what it means to DobbyTool (`st`: start or stop,
 * never stats); the extra commands are matched by prefix only where DobbyTool has no match.
 */
function findCommand(name: string): Command | string {
  const exact = COMMANDS.find((c) => c.name === name);
  if (exact !== undefined) return exact;
  const dobbyTool = DOBBY_COMMANDS.filter((c) => c.name.startsWith(name));
  const matches = dobbyTool.length > 0 ? dobbyTool : EXTRA_COMMANDS.filter((c) => c.name.startsWith(name));
  if (matches.length === 0) return `${name}: No such command.`;
  if (matches.length > 1) return `Ambiguous command '${name}', possible commands: ${matches.map((c) => c.name).join(' ')} `;
  return matches[0]!;
}

interface Globals {
  address: string | null;
  verbose: number;
  json: boolean;
  rest: string[];
}

function parseGlobals(argv: readonly string[]): Globals | number {
  const g: Globals = { address: null, verbose: 0, json: false, rest: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') break;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${USAGE}${commandList()}\n`);
      return EXIT.OK;
    }
    if (arg === '-V' || arg === '--version') {
      process.stdout.write(`${versionLine()}\n`);
      return EXIT.OK;
    }
    if (/^-v+$/.test(arg)) g.verbose += arg.length - 1;
    else if (arg === '--verbose') g.verbose++;
    else if (arg === '--json') g.json = true;
    else if (arg === '-a' || arg === '--dbus-address') {
      const value = argv[++i];
      if (value === undefined) {
        process.stderr.write(`Warning: Option ${arg} requires an argument.\n`);
        return EXIT.USAGE;
      }
      g.address = value;
    } else if (arg.startsWith('--dbus-address=')) g.address = arg.slice('--dbus-address='.length);
    else if (arg.startsWith('-a') && arg.length > 2) g.address = arg.slice(2);
    else {
      process.stderr.write(`Warning: Unknown option \`${arg}'.\n`);
      return EXIT.USAGE;
    }
  }
  g.rest = argv.slice(i);
  return g;
}

/** Takes `--json` and `--help` out of a command's arguments (only the leading ones for command-line-taking commands). */
function commandFlags(c: Command, args: string[]): { args: string[]; json: boolean; help: boolean } {
  let json = false;
  let help = false;
  const out: string[] = [];
  let leading = true;
  for (const arg of args) {
    const take = !c.trailingCommand || leading;
    if (take && arg === '--json') json = true;
    else if (take && (arg === '--help' || arg === '-h')) help = true;
    else {
      if (!arg.startsWith('-')) leading = false;
      out.push(arg);
    }
  }
  return { args: out, json, help };
}

async function main(argv: readonly string[]): Promise<number> {
  const globals = parseGlobals(argv);
  if (typeof globals === 'number') return globals;
  const [name, ...rawArgs] = globals.rest;
  if (name === undefined) {
    process.stderr.write(`${USAGE}${commandList()}\n`);
    return EXIT.USAGE;
  }
  if (name === 'help') {
    const topic = rawArgs[0] === undefined ? undefined : findCommand(rawArgs[0]);
    if (topic === undefined) process.stdout.write(`${COMMANDS.map((c) => `${c.name.padEnd(16)}  ${c.usage}`).join('\n')}\n`);
    else if (typeof topic === 'string') process.stderr.write(`${topic}\n`);
    else process.stdout.write(commandHelp(topic));
    return typeof topic === 'string' ? EXIT.USAGE : EXIT.OK;
  }
  const command = findCommand(name);
  if (typeof command === 'string') {
    process.stderr.write(`${command}\n`);
    return EXIT.USAGE;
  }
  const flags = commandFlags(command, rawArgs);
  if (flags.help) {
    process.stdout.write(commandHelp(command));
    return EXIT.OK;
  }
  const out = createOut(globals.json || flags.json);
  const address = busAddressFor(globals.address, process.env);
  let client: BusClient | null = null;
  let connecting: Promise<DobbyProxy> | null = null;
  const ctx: CommandContext = {
    out,
    proxy: () => (connecting ??= (async () => {
      client = await BusClient.connect(address);
      if (globals.verbose > 0) {
        const started = Date.now();
        client.trace = (direction, m) => {
          const what = m.member !== undefined ? `${m.interface ?? ''}.${m.member}` : m.errorName ?? `reply to #${m.replySerial ?? '?'}`;
          process.stderr.write(`[${String(Date.now() - started).padStart(5)} ms] ${direction === 'send' ? '>' : '<'} ${what}(${m.signature}) ${JSON.stringify(m.body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
        };
      }
      return new DobbyProxy(client);
    })()),
  };
  try {
    return await command.run(ctx, flags.args);
  } catch (err) {
    const text = err instanceof DBusCallError ? `${err.errorName}: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`dobby: cannot talk to org.rdk.dobby on ${address}: ${text}\n`);
    if (out.json) process.stdout.write(`${JSON.stringify({ ok: false, error: text, ...(err instanceof DBusCallError ? { dbusError: err.errorName } : {}) })}\n`);
    return EXIT.UNREACHABLE;
  } finally {
    (client as BusClient | null)?.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`dobby: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
