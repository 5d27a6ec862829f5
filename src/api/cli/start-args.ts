// Parses `start`/`run` arguments as DobbyTool does: leading options, id, bundle dir or spec file, then the command.

import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { errnoText } from './output.ts';

export interface StartArgs {
  readonly id: string;
  readonly path: string;
  readonly kind: 'bundle' | 'spec';
  /** The bundle path, or the spec file's text. */
  readonly target: string;
  readonly command: string;
  readonly displaySocket: string;
  readonly env: readonly string[];
}

export type StartParse = { readonly ok: true; readonly args: StartArgs } | { readonly ok: false; readonly error: string };

const NEED_TWO = 'must provide at least two args; <id> <specfile/bundlepath>';

export async function parseStartArgs(args: readonly string[]): Promise<StartParse> {
  if (args.length < 2 || args[0] === '' || args[1] === '') return { ok: false, error: NEED_TWO };
  let i = 0;
  let displaySocket = '';
  const env: string[] = [];
  while (i < args.length && args[i]!.startsWith('-')) {
    const option = args[i]!;
    if (option === '--westeros-socket') {
      const value = args[++i] ?? '';
      const real = await realpath(value).catch(() => null);
      if (real === null) return { ok: false, error: `Path '${value}' does not exist` };
      displaySocket = real;
    } else if (option === '--envvar') {
      env.push(args[++i] ?? '');
    } else {
      return { ok: false, error: `unknown argument '${option}'` };
    }
    i++;
  }
  if (args.length - i < 2) return { ok: false, error: NEED_TWO };
  const id = args[i++]!;
  if (id === '') return { ok: false, error: `invalid container id '${id}'` };
  const given = args[i++]!;
  const path = (await realpath(given).catch(() => null)) ?? resolve(given);
  const command = args.slice(i).join(' ');
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    return { ok: false, error: `failed to stat '${path}' ${errnoText(err)}` };
  }
  if (info.isDirectory()) {
    let names: string[];
    try {
      names = await readdir(path);
    } catch (err) {
      return { ok: false, error: `failed to opendir '${path}' ${errnoText(err)}` };
    }
    if (!names.includes('config.json')) return { ok: false, error: `no config.json file found in '${path}'` };
    return { ok: true, args: { id, path, kind: 'bundle', target: path, command, displaySocket, env } };
  }
  if (!path.includes('.json')) return { ok: false, error: 'please provide the path to a bundle or a valid .json file' };
  const spec = await readFile(path, 'utf8').catch(() => null);
  if (spec === null) return { ok: false, error: `failed to open '${given}'` };
  return { ok: true, args: { id, path, kind: 'spec', target: spec, command, displaySocket, env } };
}
