// DobbyTool's commands, with its argument checks and its exact output lines.

import { readFile, stat } from 'node:fs/promises';
import { CTRL_IFACE } from '../dbus/names.ts';
import { simple, withContainer, type Command, type CommandContext } from './context.ts';
import type { DobbyProxy } from './dobby-proxy.ts';
import { errnoText, EXIT, listTable, stateName } from './output.ts';
import { parseStartArgs } from './start-args.ts';

const LOG_LEVELS: Readonly<Record<string, number>> = { FATAL: 0, ERROR: 1, WARNING: 2, MILESTONE: 3, INFO: 4, DEBUG: 5 };

function usage(ctx: CommandContext, text: string): number {
  ctx.out.error(text);
  return EXIT.USAGE;
}

/** Resolves once a ctrl1 signal `member` arrives for container `id`; the subscription is live when this returns. */
async function signalFor(ctx: CommandContext, member: string, id: string): Promise<{ wait: Promise<void>; cancel(): void }> {
  let done!: () => void;
  const wait = new Promise<void>((resolve) => (done = resolve));
  const off = await (await ctx.proxy()).subscribe(CTRL_IFACE, (m, body) => {
    if (m === member && body[1] === id) done();
  });
  return { wait: wait.finally(off), cancel: off };
}

/** Resolves once descriptor `cd` is no longer listed; never, if the bus connection fails meanwhile. */
async function gone(proxy: DobbyProxy, cd: number, settled: () => boolean): Promise<void> {
  try {
    while (!settled() && (await proxy.list()).some((c) => c.descriptor === cd)) await new Promise((r) => setTimeout(r, 200));
  } catch {
    // The connection closed (the command is over) or broke: the Stopped signal decides instead.
    await new Promise<never>(() => {});
  }
}

const start: Command = {
  name: 'start',
  usage: 'start [options...] <id> <specfile/bundlepath> [command]',
  help: 'Starts a container using the given path. Can optionally specify the command to run inside the container. Any arguments after command are treated as arguments to the command.',
  options: '  --westeros-socket    Mount the specified westeros socket into the container\n  --envvar             Add an environment variable for this container',
  trailingCommand: true,
  async run(ctx, args) {
    const parsed = await parseStartArgs(args);
    if (!parsed.ok) return usage(ctx, parsed.error);
    const a = parsed.args;
    const proxy = await ctx.proxy();
    const cd = a.kind === 'bundle'
      ? await proxy.startFromBundle(a.id, a.target, a.command, a.displaySocket, a.env)
      : await proxy.startFromSpec(a.id, a.target, a.command, a.displaySocket, a.env);
    if (cd < 0) {
      ctx.out.error(`failed to start container '${a.id}'`);
      return EXIT.FAILED;
    }
    ctx.out.line(`started '${a.id}' container, descriptor is ${cd}`);
    ctx.out.result({ id: a.id, descriptor: cd });
    return EXIT.OK;
  },
};

const stop: Command = {
  name: 'stop',
  usage: 'stop <id> [options...]',
  help: 'Stops a container with the given id; returns once it has stopped',
  options: '  --force        Shuts down the container with prejudice (SIGKILL).',
  async run(ctx, args) {
    if (args.length < 1) return usage(ctx, 'must provide at least one arg; <id>');
    const given = args[0]!;
    const force = args.slice(1).includes('--force');
    return withContainer(ctx, given, async (cd) => {
      const proxy = await ctx.proxy();
      // Stopped names the container by id, also when it was given by descriptor.
      const id = (await proxy.list()).find((c) => c.descriptor === cd)?.id ?? given;
      const stopped = await signalFor(ctx, 'Stopped', id);
      try {
        if (!(await proxy.stop(cd, force))) {
          ctx.out.error('failed to stop the container');
          return EXIT.FAILED;
        }
        // A container waiting to be restarted after a crash sent its Stopped then: it just goes.
        let settled = false;
        await Promise.race([stopped.wait, gone(proxy, cd, () => settled)]);
        settled = true;
      } finally {
        stopped.cancel();
      }
      ctx.out.line(`stopped container '${given}'`);
      ctx.out.result({ id, descriptor: cd });
      return EXIT.OK;
    });
  },
};

const idCommand = (
  name: string,
  help: string,
  call: (ctx: CommandContext, cd: number) => Promise<boolean>,
  ok: (id: string) => string,
  failed: (id: string) => string,
): Command => ({
  name,
  usage: `${name} <id>`,
  help,
  async run(ctx, args) {
    if (args.length < 1) return usage(ctx, 'must provide at least one arg; <id>');
    const id = args[0]!;
    return simple(ctx, id, (cd) => call(ctx, cd), ok(id), failed(id));
  },
});

const pause = idCommand('pause', 'Pauses a container with the given id', async (ctx, cd) => (await ctx.proxy()).pause(cd),
  (id) => `paused container '${id}'`, () => 'failed to pause the container');
const resume = idCommand('resume', 'Resumes a container with the given id', async (ctx, cd) => (await ctx.proxy()).resume(cd),
  (id) => `resumed container '${id}'`, (id) => `failed to resume container '${id}'`);
const wakeup = idCommand('wakeup', 'wakeup a container with the given id', async (ctx, cd) => (await ctx.proxy()).wakeup(cd),
  (id) => `wakeup container '${id}' successful`, (id) => `failed to wakeup container '${id}'`);

const hibernate: Command = {
  name: 'hibernate',
  usage: 'hibernate [options...] <id>',
  help: 'Hibernate a container with the given id',
  options: '  --dest=DIR             where to write the memory images\n  --compress=lz4|zstd    compress the images',
  async run(ctx, args) {
    if (args.length < 1) return usage(ctx, 'must provide at least one arg; <id>');
    const options: string[] = [];
    let i = 0;
    while (i < args.length && args[i]!.length > 1 && args[i]!.startsWith('--')) options.push(args[i++]!.slice(2));
    const id = args[i] ?? '';
    if (id === '') return usage(ctx, `invalid container id '${id}'`);
    return simple(ctx, id, async (cd) => (await ctx.proxy()).hibernate(cd, options.join(',')),
      `hibernate successful for container '${id}'`, 'failed to hibernate the container');
  },
};

const mount: Command = {
  name: 'mount',
  usage: 'mount <id> <source> <destination> <mountFlags> <mountData>',
  help: 'mount a directory from the host inside the container with the given id (mountFlags: comma separated, e.g. bind,ro)',
  async run(ctx, args) {
    if (args.length < 4 || args.slice(0, 4).some((a) => a === '')) {
      return usage(ctx, 'must provide at least 4 args; <id> <source> <destination> <mountFlags>');
    }
    const [id, source, destination, flags] = args as [string, string, string, string];
    const data = args[4] ?? '';
    return simple(ctx, id, async (cd) => (await ctx.proxy()).mount(cd, source, destination, flags.split(','), data),
      `mount successful for container '${id}'`, `failed to mount ${source} inside the container ${id}`);
  },
};

const unmount: Command = {
  name: 'unmount',
  usage: 'unmount <id> <source>',
  help: 'unmount a directory inside the container with the given id',
  async run(ctx, args) {
    if (args.length < 2 || args[0] === '' || args[1] === '') return usage(ctx, 'must provide at least two args; <id> <source>');
    const [id, path] = args as [string, string];
    return simple(ctx, id, async (cd) => (await ctx.proxy()).unmount(cd, path),
      `unmount successful for container '${id}'`, `failed to unmount ${path} inside the container ${id}`);
  },
};

const annotate: Command = {
  name: 'annotate',
  usage: 'annotate <id> <key> <value>',
  help: 'annotate the container with a key value pair',
  async run(ctx, args) {
    if (args.length < 3 || args.slice(0, 3).some((a) => a === '')) return usage(ctx, 'must provide at least 3 args; <id> <key> <value>');
    const [id, key, value] = args as [string, string, string];
    return simple(ctx, id, async (cd) => (await ctx.proxy()).annotate(cd, key, value),
      `annotate successful for container '${id}'`, `failed to add ${key} ${value} pair inside the container ${id}`, { key, value });
  },
};

const removeAnnotation: Command = {
  name: 'remove-annotation',
  usage: 'remove-annotation <id> <key>',
  help: "removes a key from the container's annotations",
  async run(ctx, args) {
    if (args.length < 2 || args[0] === '' || args[1] === '') return usage(ctx, 'must provide at least 2 args; <id> <key>');
    const [id, key] = args as [string, string];
    return simple(ctx, id, async (cd) => (await ctx.proxy()).removeAnnotation(cd, key),
      `removed ${key} key from container '${id}' annotations`, `failed to remove ${key} key from the container ${id} annotations`, { key });
  },
};

const exec: Command = {
  name: 'exec',
  usage: 'exec [options...] <id> <command>',
  help: 'Executes a command in the container with the given id (options: --tty, --env K=V, --cwd DIR)',
  trailingCommand: true,
  async run(ctx, args) {
    if (args.length < 2 || args[0] === '' || args[1] === '') return usage(ctx, 'must provide at least two args; <id> <command>');
    let i = 0;
    const options: string[] = [];
    while (i < args.length && args[i]!.startsWith('-')) options.push(args[i++]!);
    if (i >= args.length) return usage(ctx, 'No container id given');
    const id = args[i++]!;
    if (i >= args.length) return usage(ctx, 'No command given for exec.');
    const command = args.slice(i).join(' ');
    return withContainer(ctx, id, async (cd) => {
      if (!(await (await ctx.proxy()).exec(cd, options.join(' '), command))) {
        ctx.out.error(`failed to execute command in container '${id}'`);
        return EXIT.FAILED;
      }
      ctx.out.line(`executed command in '${id}' container, descriptor is ${cd}`);
      ctx.out.result({ id, descriptor: cd });
      return EXIT.OK;
    });
  },
};

const list: Command = {
  name: 'list',
  usage: 'list',
  help: 'Lists all the containers the daemon is managing',
  async run(ctx) {
    const proxy = await ctx.proxy();
    const containers = await proxy.list();
    const rows = await Promise.all(containers.map(async (c) => ({ ...c, state: stateName(await proxy.state(c.descriptor)) })));
    for (const line of listTable(rows)) ctx.out.line(line);
    ctx.out.result({ containers: rows });
    return EXIT.OK;
  },
};

const info: Command = {
  name: 'info',
  usage: 'info <id>',
  help: 'Gets the json stats for the given container',
  async run(ctx, args) {
    if (args.length < 1) return usage(ctx, 'must provide at least one arg; <id>');
    const id = args[0]!;
    return withContainer(ctx, id, async (cd) => {
      const text = await (await ctx.proxy()).info(cd);
      if (text === '') {
        ctx.out.error('failed to get container info');
        return EXIT.FAILED;
      }
      ctx.out.line(text);
      ctx.out.result({ id, descriptor: cd, info: JSON.parse(text) as unknown });
      return EXIT.OK;
    });
  },
};

const wait: Command = {
  name: 'wait',
  usage: 'wait <id> <state>',
  help: 'Waits for a container with ID to enter a specified state (started, stopped); returns at once if it is already there',
  async run(ctx, args) {
    if (args.length !== 2) return usage(ctx, 'must provide a 2 args; <id> <state>');
    const id = args[0]!;
    if (id === '') return usage(ctx, `invalid container id '${id}'`);
    const state = args[1]!.toLowerCase();
    if (state === '') return usage(ctx, 'Must specify a container state to wait for');
    if (state !== 'started' && state !== 'running' && state !== 'stopped') return usage(ctx, `Invalid container state '${state}'`);
    const proxy = await ctx.proxy();
    const signal = await signalFor(ctx, state === 'stopped' ? 'Stopped' : 'Started', id);
    try {
      // Subscribed first, then looked: a change between the two is caught by the signal.
      const found = (await proxy.list()).find((c) => c.id === id);
      const already = state === 'stopped' ? found === undefined : found !== undefined && (await proxy.state(found.descriptor)) === 2;
      if (!already) await signal.wait;
    } finally {
      signal.cancel();
    }
    ctx.out.line(`Container ${id} has changed state to ${state}`);
    ctx.out.result({ id, state });
    return EXIT.OK;
  },
};

const setLogLevel: Command = {
  name: 'set-log-level',
  usage: 'set-log-level <level>',
  help: 'Dynamically change the log level of the daemon. possible values:\nFATAL, ERROR, WARNING, MILESTONE, INFO or DEBUG',
  async run(ctx, args) {
    if (args.length < 1 || args[0] === '') return usage(ctx, 'must provide at least one arg; <level>');
    const level = LOG_LEVELS[args[0]!.toUpperCase()];
    if (level === undefined) return usage(ctx, 'Error: invalid LEVEL argument, possible values are FATAL, ERROR, WARNING, MILESTONE, INFO or DEBUG\n');
    if (!(await (await ctx.proxy()).setLogLevel(level))) {
      ctx.out.error('failed to set log level');
      return EXIT.FAILED;
    }
    ctx.out.result({ level });
    return EXIT.OK;
  },
};

const setDbus: Command = {
  name: 'set-dbus',
  usage: 'set-dbus <private>|<public> <address>',
  help: 'Sets the AI dbus address',
  async run(ctx, args) {
    if (args.length < 2 || args[0] === '' || args[1] === '') return usage(ctx, 'must provide at least two args; <private>|<public> <address>');
    const which = args[0]!;
    if (which !== 'private' && which !== 'public') return usage(ctx, "first argument must be either 'private' or 'public'");
    if (!(await (await ctx.proxy()).setAIDbusAddress(which === 'private', args[1]!))) {
      ctx.out.error(`failed to set the AI ${which} dbus address`);
      return EXIT.FAILED;
    }
    ctx.out.result({ bus: which, address: args[1] });
    return EXIT.OK;
  },
};

const shutdown: Command = {
  name: 'shutdown',
  usage: 'shutdown',
  help: 'Asks the daemon to shutdown',
  async run(ctx) {
    try {
      await (await ctx.proxy()).shutdown();
    } catch {
      ctx.out.error('failed to shutdown daemon');
      return EXIT.FAILED;
    }
    ctx.out.result({});
    return EXIT.OK;
  },
};

const dumpspec: Command = {
  name: 'dumpspec',
  usage: 'dumpspec <id> [options...]',
  help: 'Dumps the json spec used to create the container',
  async run(ctx, args) {
    if (args.length < 1) return usage(ctx, 'must provide at least one arg; <id>');
    const id = args[0]!;
    return withContainer(ctx, id, async (cd) => {
      const spec = await (await ctx.proxy()).spec(cd);
      if (spec === '') {
        ctx.out.error('failed to get container spec');
        return EXIT.FAILED;
      }
      ctx.out.line(spec);
      ctx.out.result({ id, descriptor: cd, spec });
      return EXIT.OK;
    });
  },
};

const bundle: Command = {
  name: 'bundle',
  usage: 'bundle <id> <specfile> [options...]',
  help: "Creates a bundle containing rootfs and config.json for runc\nbut doesn't actually run it.  Useful for debugging runc issues",
  async run(ctx, args) {
    if (args.length < 2) return usage(ctx, 'must provide at least two args; <id> <specfile/bundlepath>');
    const id = args[0]!;
    if (id === '') return usage(ctx, `invalid container id '${id}'`);
    const path = args[1]!;
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (err) {
      return usage(ctx, `failed to stat '${path}' ${errnoText(err)}`);
    }
    if (isDir) return usage(ctx, 'Path is not a valid Dobby Spec JSON file');
    const spec = await readFile(path, 'utf8').catch(() => null);
    if (spec === null) return usage(ctx, `failed to open '${path}'`);
    if (!(await (await ctx.proxy()).createBundle(id, spec))) {
      ctx.out.error(`failed to create bundle with container id '${id}'`);
      return EXIT.FAILED;
    }
    ctx.out.line(`bundle created for container with id '${id}'`);
    ctx.out.result({ id });
    return EXIT.OK;
  },
};

/** In DobbyTool's registration order, which decides prefix matches. */
export const DOBBY_COMMANDS: readonly Command[] = [
  shutdown, start, stop, pause, resume, hibernate, wakeup, mount, unmount, annotate, removeAnnotation, exec, list, info, wait,
  setLogLevel, dumpspec, bundle, setDbus,
];
