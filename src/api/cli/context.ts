// What a CLI command gets: its output, a lazily connected proxy, and the pieces commands share (id lookup, flags).

import type { DobbyProxy } from './dobby-proxy.ts';
import { EXIT, type Out } from './output.ts';

export interface CommandContext {
  readonly out: Out;
  /** Connects on first use (argument errors are reported without touching the bus). */
  proxy(): Promise<DobbyProxy>;
}

export interface Command {
  readonly name: string;
  /** DobbyTool's one-line usage. */
  readonly usage: string;
  readonly help: string;
  readonly options?: string;
  /** When true, `--json`/`--help` are only taken before the first positional argument (the rest is a command line). */
  readonly trailingCommand?: boolean;
  run(ctx: CommandContext, args: string[]): Promise<number>;
}

/**
 * DobbyTool's id handling: empty id → `invalid container id`, unknown → `failed to find
 * container`; else runs `fn` with the descriptor.
 */
export async function withContainer(ctx: CommandContext, id: string, fn: (cd: number) => Promise<number>): Promise<number> {
  if (id === '') {
    ctx.out.error(`invalid container id '${id}'`);
    return EXIT.USAGE;
  }
  const cd = await (await ctx.proxy()).resolve(id);
  if (cd < 0) {
    ctx.out.error(`failed to find container '${id}'`);
    return EXIT.FAILED;
  }
  return fn(cd);
}

/** A plain boolean D-Bus call with DobbyTool's success and failure lines. */
export async function simple(
  ctx: CommandContext,
  id: string,
  call: (cd: number) => Promise<boolean>,
  ok: string,
  failed: string,
  extra: Record<string, unknown> = {},
): Promise<number> {
  return withContainer(ctx, id, async (cd) => {
    if (!(await call(cd))) {
      ctx.out.error(failed);
      return EXIT.FAILED;
    }
    ctx.out.line(ok);
    ctx.out.result({ id, descriptor: cd, ...extra });
    return EXIT.OK;
  });
}
