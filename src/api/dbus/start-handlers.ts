// Start, StartFromSpec and StartFromBundle in all their arities: start through the manager; the
// container's stop signals are held until the reply is out (Started comes from the event stream, before it).

import { toDobbyError } from '../../errors.ts';
import type { BundleStartRequest, HandlerDeps, SpecStartRequest } from './deps.ts';
import type { CallContext, Handler } from './dispatcher.ts';
import { splitWords } from './exec-options.ts';

interface StartArgs {
  readonly id: string;
  /** Bundle path or spec text, by method. */
  readonly target: string;
  readonly fds: readonly number[];
  readonly command: readonly string[];
  readonly displaySocket: string;
  readonly env: readonly string[];
  readonly userId: number;
  readonly groupId: number;
}

/** The dispatcher has checked the signature (ssah, ssahssas or ssahssasuu): read what is there. */
function startArgs(args: readonly unknown[]): StartArgs {
  return {
    id: args[0] as string,
    target: args[1] as string,
    fds: args[2] as number[],
    command: splitWords((args[3] as string | undefined) ?? ''),
    displaySocket: (args[4] as string | undefined) ?? '',
    env: (args[5] as string[] | undefined) ?? [],
    userId: (args[6] as number | undefined) ?? 0,
    groupId: (args[7] as number | undefined) ?? 0,
  };
}

export function startHandlers(deps: HandlerDeps): { bundle: Handler; spec: Handler; start: Handler } {
  const { manager, signals } = deps;

  /** Runs one start; holds the container's stop signals until the reply is out; -1 on any failure. */
  const run = async (a: StartArgs, ctx: CallContext, how: string, go: () => Promise<number>): Promise<readonly unknown[]> => {
    const log = deps.logger.child({ containerId: a.id, method: how });
    signals.beginStart(a.id);
    ctx.afterReply(() => signals.endStart(a.id));
    let descriptor: number;
    try {
      descriptor = await go();
    } catch (err) {
      const e = toDobbyError(err, 'INTERNAL', a.id);
      log.warn({ err: e, code: e.code }, `failed to start container '${a.id}': ${e.message}`);
      return [-1];
    }
    log.info({ descriptor }, 'container started');
    return [descriptor];
  };

  const fromBundle = (a: StartArgs, ctx: CallContext, how: string): Promise<readonly unknown[]> => {
    const request: BundleStartRequest = {
      id: a.id,
      bundle: a.target,
      fds: a.fds,
      ...(a.command.length > 0 ? { command: a.command } : {}),
      ...(a.displaySocket !== '' ? { displaySocket: a.displaySocket } : {}),
      ...(a.env.length > 0 ? { env: a.env } : {}),
      ...(a.userId > 0 ? { userId: a.userId } : {}),
      ...(a.groupId > 0 ? { groupId: a.groupId } : {}),
    };
    const extras = ['command', 'displaySocket', 'env', 'userId', 'groupId'].filter((k) => k in request);
    if (extras.length > 0) deps.logger.debug({ containerId: a.id, extras }, 'start request carries per-launch settings (applied through a launch config)');
    return run(a, ctx, how, () => manager.start(request));
  };

  const fromSpec = (a: StartArgs, ctx: CallContext, how: string): Promise<readonly unknown[]> => {
    const startFromSpec = manager.startFromSpec?.bind(manager);
    if (startFromSpec === undefined) {
      deps.logger.warn({ containerId: a.id, method: how }, `cannot start '${a.id}' from a Dobby spec: spec support is not in this build yet; start an OCI bundle with StartFromBundle instead`);
      return Promise.resolve([-1]);
    }
    const request: SpecStartRequest = {
      id: a.id,
      spec: a.target,
      fds: a.fds,
      ...(a.command.length > 0 ? { command: a.command } : {}),
      ...(a.displaySocket !== '' ? { displaySocket: a.displaySocket } : {}),
      ...(a.env.length > 0 ? { env: a.env } : {}),
    };
    return run(a, ctx, how, () => startFromSpec(request));
  };

  return {
    bundle: (args, ctx) => fromBundle(startArgs(args), ctx, 'StartFromBundle'),
    spec: (args, ctx) => fromSpec(startArgs(args), ctx, 'StartFromSpec'),
    // Dobby's legacy Start takes a spec; a path (not JSON text) is taken as a bundle.
    start: (args, ctx) => {
      const a = startArgs(args);
      return a.target.trimStart().startsWith('{') ? fromSpec(a, ctx, 'Start') : fromBundle(a, ctx, 'Start');
    },
  };
}
